#include "vm-launcher/template_ram.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/crypto/encoding.h"
#include "common/crypto/sha256.h"
#include "common/files.h"
#include "common/status.h"

namespace clawos::launcher {
namespace {

constexpr size_t kChunk = 1 << 20;

// Calls `data(offset, length)` for each data region of `fd` up to `bytes`.
absl::Status ForEachData(int fd, int64_t bytes,
                         const std::function<absl::Status(int64_t, int64_t)>& data) {
  int64_t off = 0;
  while (off < bytes) {
    off_t start = ::lseek(fd, off, SEEK_DATA);
    if (start < 0) {
      if (errno == ENXIO) return absl::OkStatus();  // only a hole remains
      return ErrnoStatus(errno, "finding the template RAM's data");
    }
    off_t end = ::lseek(fd, start, SEEK_HOLE);
    if (end < 0) return ErrnoStatus(errno, "finding the template RAM's holes");
    end = std::min<off_t>(end, bytes);
    RETURN_IF_ERROR(data(start, end - start));
    off = end;
  }
  return absl::OkStatus();
}

// Copies [off, off+len) from `in` to `out` at the same offset, hashing in
// order: zeros are hashed for the holes skipped since `*hashed`.
absl::Status CopyRange(int in, int out, int64_t off, int64_t len, crypto::Sha256& h,
                       int64_t* hashed, std::vector<char>& buf) {
  static const std::vector<char> zeros(kChunk, 0);
  while (*hashed < off) {
    size_t n = static_cast<size_t>(std::min<int64_t>(kChunk, off - *hashed));
    h.Update(std::string_view(zeros.data(), n));
    *hashed += static_cast<int64_t>(n);
  }
  for (int64_t done = 0; done < len;) {
    size_t want = static_cast<size_t>(std::min<int64_t>(kChunk, len - done));
    ssize_t n = ::pread(in, buf.data(), want, off + done);
    if (n <= 0) return ErrnoStatus(n < 0 ? errno : EIO, "reading template RAM");
    if (::pwrite(out, buf.data(), static_cast<size_t>(n), off + done) != n) {
      return ErrnoStatus(errno, "writing template RAM");
    }
    h.Update(std::string_view(buf.data(), static_cast<size_t>(n)));
    done += n;
    *hashed += n;
  }
  return absl::OkStatus();
}

// Copies the data of `in` to `out` (both `bytes` long); the hex SHA-256 of all of it.
absl::StatusOr<std::string> CopySparse(int in, int out, int64_t bytes) {
  crypto::Sha256 h;
  int64_t hashed = 0;
  std::vector<char> buf(kChunk);
  RETURN_IF_ERROR(ForEachData(in, bytes, [&](int64_t off, int64_t len) {
    return CopyRange(in, out, off, len, h, &hashed, buf);
  }));
  RETURN_IF_ERROR(CopyRange(in, out, bytes, 0, h, &hashed, buf));  // the trailing hole
  crypto::Sha256Digest d = h.Final();
  return crypto::HexEncode(d);
}

absl::StatusOr<int> NewMemfd(const std::string& name, int64_t bytes) {
  int fd = ::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return ErrnoStatus(errno, "creating the template's memory (memfd_create)");
  if (::ftruncate(fd, bytes) != 0) {
    int e = errno;
    ::close(fd);
    return ErrnoStatus(e, "sizing the template's memory");
  }
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TemplateRam>> TemplateRam::Create(const std::string& name,
                                                                 int64_t bytes) {
  if (bytes <= 0) return absl::InvalidArgumentError("template RAM of no size");
  ASSIGN_OR_RETURN(int fd, NewMemfd(name, bytes));
  return std::unique_ptr<TemplateRam>(new TemplateRam(fd, bytes));
}

absl::StatusOr<std::unique_ptr<TemplateRam>> TemplateRam::Load(const std::string& name,
                                                               const std::string& path,
                                                               int64_t bytes,
                                                               const std::string& sha256_hex) {
  int in = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return ErrnoStatus(errno, absl::StrCat("opening ", path));
  off_t size = ::lseek(in, 0, SEEK_END);
  if (size != bytes) {
    ::close(in);
    return absl::DataLossError(
        absl::StrCat(path, " is ", size, " bytes; the template recorded ", bytes));
  }
  auto made = Create(name, bytes);
  if (!made.ok()) {
    ::close(in);
    return made.status();
  }
  auto sum = CopySparse(in, (*made)->fd(), bytes);
  ::close(in);
  if (!sum.ok()) return sum.status();
  if (*sum != sha256_hex) {
    return absl::DataLossError(absl::StrCat(path, " does not match its recorded SHA-256"));
  }
  RETURN_IF_ERROR((*made)->Seal());
  return made;
}

TemplateRam::~TemplateRam() { ::close(fd_); }

absl::Status TemplateRam::Seal() {
  // Every page allocated first: a restored VM touching a page the template
  // never did then finds it here, instead of adding it to the memfd (charged
  // to that VM) on its fault.
  if (::fallocate(fd_, 0, 0, bytes_) != 0) {
    return ErrnoStatus(errno, "allocating the template's memory");
  }
  if (::fcntl(fd_, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    return ErrnoStatus(errno, "sealing the template's memory");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> TemplateRam::Save(const std::string& path) const {
  std::string tmp = path + ".tmp";
  int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out < 0) return ErrnoStatus(errno, absl::StrCat("creating ", tmp));
  absl::StatusOr<std::string> sum = CopySparse(fd_, out, bytes_);
  if (sum.ok() && ::ftruncate(out, bytes_) != 0) sum = ErrnoStatus(errno, "sizing " + tmp);
  if (sum.ok() && ::fsync(out) != 0) sum = ErrnoStatus(errno, "syncing " + tmp);
  ::close(out);
  if (sum.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    sum = ErrnoStatus(errno, "renaming " + tmp);
  }
  if (!sum.ok()) ::unlink(tmp.c_str());
  return sum;
}

int64_t TemplateRam::DataBytes() const {
  int64_t total = 0;
  ForEachData(fd_, bytes_, [&](int64_t, int64_t len) {
    total += len;
    return absl::OkStatus();
  }).IgnoreError();
  return total;
}

}  // namespace clawos::launcher
