#include "common/crypto/sha256.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/crypto/encoding.h"
#include "common/files.h"

namespace clawos::crypto {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) std::abort();
}

void Sha256::Update(std::span<const uint8_t> data) {
  if (!data.empty()) EVP_DigestUpdate(ctx_.get(), data.data(), data.size());
}

void Sha256::Update(std::string_view data) { Update(AsBytes(data)); }

Sha256Digest Sha256::Final() {
  Sha256Digest out{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_.get(), out.data(), &len);
  EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr);
  return out;
}

Sha256Digest Sha256Of(std::span<const uint8_t> data) {
  Sha256 h;
  h.Update(data);
  return h.Final();
}

Sha256Digest Sha256Of(std::string_view data) { return Sha256Of(AsBytes(data)); }

absl::StatusOr<Sha256Digest> Sha256File(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("opening ", path));
  Sha256 h;
  std::vector<uint8_t> buf(1 << 20);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return ErrnoStatus(e, absl::StrCat("reading ", path));
    }
    if (n == 0) break;
    h.Update(std::span<const uint8_t>(buf.data(), static_cast<size_t>(n)));
  }
  ::close(fd);
  return h.Final();
}

}  // namespace clawos::crypto
