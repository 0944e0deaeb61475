#include "vm-launcher/disk.h"

#include <fcntl.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/process.h"
#include "common/status.h"

namespace clawos::launcher {

absl::Status CreateExt4Disk(const std::string& path, int64_t size_mib) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("creating disk ", path));
  int rc = ::ftruncate(fd, static_cast<off_t>(size_mib) << 20);
  int err = errno;
  ::close(fd);
  if (rc != 0) {
    ::unlink(path.c_str());
    return ErrnoStatus(err, absl::StrCat("sizing disk ", path));
  }
  auto made = RunChecked({"mkfs.ext4", "-q", "-F", "-m", "0", "-E", "nodiscard", path});
  if (!made.ok()) {
    ::unlink(path.c_str());
    return Annotate(made.status(), absl::StrCat("formatting ", path));
  }
  return absl::OkStatus();
}

}  // namespace clawos::launcher
