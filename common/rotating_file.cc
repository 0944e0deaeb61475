#include "common/rotating_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "common/files.h"

namespace clawos {

absl::StatusOr<std::unique_ptr<RotatingFile>> RotatingFile::Open(const std::string& path,
                                                                 int64_t max_bytes, int keep) {
  std::unique_ptr<RotatingFile> f(new RotatingFile(path, max_bytes, keep));
  if (auto s = f->Reopen(); !s.ok()) return s;
  return f;
}

RotatingFile::~RotatingFile() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status RotatingFile::Reopen() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) return ErrnoStatus(errno, absl::StrCat("opening ", path_));
  struct stat st {};
  ::fstat(fd_, &st);
  size_ = st.st_size;
  return absl::OkStatus();
}

absl::Status RotatingFile::Rotate() {
  for (int i = keep_ - 1; i >= 1; --i) {
    ::rename(absl::StrCat(path_, ".", i).c_str(), absl::StrCat(path_, ".", i + 1).c_str());
  }
  if (::rename(path_.c_str(), (path_ + ".1").c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("rotating ", path_));
  }
  return Reopen();
}

absl::Status RotatingFile::Append(std::string_view data) {
  std::lock_guard lock(mu_);
  if (size_ > 0 && size_ + static_cast<int64_t>(data.size()) > max_bytes_) {
    if (auto s = Rotate(); !s.ok()) return s;
  }
  ssize_t n = ::write(fd_, data.data(), data.size());
  if (n != static_cast<ssize_t>(data.size())) {
    return ErrnoStatus(n < 0 ? errno : ENOSPC, absl::StrCat("writing ", path_));
  }
  size_ += n;
  written_ += n;
  return absl::OkStatus();
}

int64_t RotatingFile::bytes_written() const {
  std::lock_guard lock(mu_);
  return written_;
}

}  // namespace clawos
