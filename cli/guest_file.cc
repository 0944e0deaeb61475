#include "cli/guest_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/files.h"

namespace clawos::cli {

mode_t CopiedMode(uint32_t guest_mode, mode_t umask) {
  return static_cast<mode_t>(guest_mode & 0777 & ~0002u) & ~umask & 0777;
}

mode_t ProcessUmask() {
  // umask cannot be read without setting it; the CLI creates no files from
  // other threads meanwhile.
  mode_t m = ::umask(077);
  ::umask(m);
  return m;
}

absl::StatusOr<std::string> CopyTarget(const std::string& dest, const std::string& guest_path) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dest, ec)) return dest;
  std::string base = guest_path.substr(guest_path.rfind('/') + 1);
  if (base.empty() || base == "." || base == ".." || base.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("\"", guest_path,
                                                   "\" names no file to copy into the directory ",
                                                   dest, " (give the destination file's name)"));
  }
  return dest + (dest.back() == '/' ? "" : "/") + base;
}

absl::StatusOr<std::unique_ptr<GuestFileWriter>> GuestFileWriter::ToFile(
    const std::string& target) {
  size_t slash = target.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : target.substr(0, slash == 0 ? 1 : slash);
  std::string temp = dir + (dir.back() == '/' ? "" : "/") + ".clawos-cp-XXXXXX";
  // mkostemp: O_CREAT | O_EXCL, mode 0600, a name no one else holds.
  int fd = ::mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("creating a temporary file in ", dir));
  return std::unique_ptr<GuestFileWriter>(new GuestFileWriter(fd, true, target, temp));
}

std::unique_ptr<GuestFileWriter> GuestFileWriter::ToFd(int fd) {
  return std::unique_ptr<GuestFileWriter>(new GuestFileWriter(fd, false, "", ""));
}

GuestFileWriter::~GuestFileWriter() {
  if (owned_ && fd_ >= 0) ::close(fd_);
  if (!temp_.empty()) ::unlink(temp_.c_str());
}

absl::Status GuestFileWriter::Header(int64_t size_bytes, uint32_t mode) {
  if (declared_ >= 0) return absl::InvalidArgumentError("the guest sent a second file header");
  if (size_bytes < 0) {
    return absl::InvalidArgumentError(absl::StrCat("the guest declared a size of ", size_bytes));
  }
  declared_ = size_bytes;
  mode_ = mode;
  return absl::OkStatus();
}

absl::Status GuestFileWriter::Data(std::string_view piece) {
  if (declared_ < 0) return absl::InvalidArgumentError("the guest sent data before the header");
  if (static_cast<int64_t>(piece.size()) > declared_ - received_) {
    return absl::DataLossError(absl::StrCat("the guest sent more than the ", declared_,
                                            " bytes it declared (the file changed while it was "
                                            "read?)",
                                            Undone()));
  }
  received_ += static_cast<int64_t>(piece.size());
  return WriteAll(piece);
}

std::string GuestFileWriter::Undone() const {
  return owned_ ? absl::StrCat("; ", target_, " left as it was") : "";
}

absl::Status GuestFileWriter::WriteAll(std::string_view piece) {
  while (!piece.empty()) {
    ssize_t n = ::write(fd_, piece.data(), piece.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, absl::StrCat("writing ", target_.empty() ? "-" : temp_));
    piece.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status GuestFileWriter::Finish() {
  if (declared_ < 0) return absl::DataLossError("the guest sent no file header");
  if (received_ != declared_) {
    return absl::DataLossError(absl::StrCat("the guest sent ", received_, " of the ", declared_,
                                            " bytes it declared (the file changed while it was "
                                            "read?)",
                                            Undone()));
  }
  if (!owned_) return absl::OkStatus();
  if (::fchmod(fd_, CopiedMode(mode_, ProcessUmask())) != 0) {
    return ErrnoStatus(errno, absl::StrCat("setting the mode of ", temp_));
  }
  if (::fsync(fd_) != 0) return ErrnoStatus(errno, absl::StrCat("syncing ", temp_));
  ::close(fd_);
  fd_ = -1;
  if (::rename(temp_.c_str(), target_.c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("renaming into ", target_));
  }
  temp_.clear();
  std::string dir = std::filesystem::path(target_).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return absl::OkStatus();
}

}  // namespace clawos::cli
