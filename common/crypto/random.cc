#include "common/crypto/random.h"

#include <openssl/rand.h>

#include "common/crypto/encoding.h"

namespace clawos::crypto {

absl::StatusOr<std::vector<uint8_t>> RandomBytes(size_t n) {
  std::vector<uint8_t> out(n);
  if (n > 0 && RAND_bytes(out.data(), static_cast<int>(n)) != 1) {
    return absl::InternalError("OpenSSL RAND_bytes failed: the system RNG is unavailable");
  }
  return out;
}

absl::StatusOr<std::string> RandomId(size_t bytes) {
  auto b = RandomBytes(bytes);
  if (!b.ok()) return b.status();
  return Base64UrlEncode(*b);
}

}  // namespace clawos::crypto
