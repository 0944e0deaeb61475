// BuildFilesystem (steps.h): the jail's tree, pivot_root, /proc.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status.h"
#include "vm-launcher/jail/steps.h"

namespace clawos::jail {
namespace {

absl::Status Errno(std::string_view what) { return ErrnoStatus(errno, what); }

// mkdir -p of every directory above `path` (all inside the jail's tmpfs).
absl::Status MakeParents(const std::string& path) {
  for (size_t i = path.find('/', 1); i != std::string::npos; i = path.find('/', i + 1)) {
    std::string dir = path.substr(0, i);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return Errno(absl::StrCat("jail: mkdir ", dir));
    }
  }
  return absl::OkStatus();
}

// A device is not bound but made anew, owned by the jail's uid with mode
// 0600 (as Firecracker's jailer does): the host's node may be closed to that
// uid (/dev/net/tun is 0600 root on some hosts, /dev/kvm 0660 root:kvm).
absl::Status MakeDevice(const std::string& target, const JailMount& m, const struct stat& st,
                        const JailSpec& spec) {
  if (!S_ISCHR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("jail: ", m.source, " is not a character device"));
  }
  if (::mknod(target.c_str(), S_IFCHR | 0600, st.st_rdev) != 0) {
    return Errno(absl::StrCat("jail: mknod ", m.target));
  }
  if (::chown(target.c_str(), spec.uid, spec.gid) != 0) {
    return Errno(absl::StrCat("jail: chown ", m.target));
  }
  return absl::OkStatus();
}

absl::Status BindOne(const JailSpec& spec, const JailMount& m) {
  struct stat st {};
  if (::stat(m.source.c_str(), &st) != 0) {
    return Errno(absl::StrCat("jail: mount source ", m.source));
  }
  std::string target = spec.root + m.target;
  RETURN_IF_ERROR(MakeParents(target));
  if (m.device) return MakeDevice(target, m, st, spec);
  if (S_ISDIR(st.st_mode)) {
    if (::mkdir(target.c_str(), 0755) != 0 && errno != EEXIST) {
      return Errno(absl::StrCat("jail: mkdir ", m.target));
    }
  } else {
    int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return Errno(absl::StrCat("jail: mount point ", m.target));
    ::close(fd);
  }
  if (::mount(m.source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return Errno(absl::StrCat("jail: bind ", m.source, " on ", m.target));
  }
  unsigned long flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV;
  if (!m.exec) flags |= MS_NOEXEC;
  if (!m.writable) flags |= MS_RDONLY;
  if (::mount(nullptr, target.c_str(), nullptr, flags, nullptr) != 0) {
    return Errno(absl::StrCat("jail: restricting ", m.target));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status BuildFilesystem(const JailSpec& spec) {
  // Nothing done here may reach the host's mount table, nor its changes reach us.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return Errno("jail: making mounts private");
  }
  const std::string& root = spec.root;
  // Not nodev: the jail's device nodes live on it (the jail cannot make more:
  // no CAP_MKNOD, and / is read-only once built).
  if (::mount("tmpfs", root.c_str(), "tmpfs", MS_NOSUID | MS_NOEXEC,
              "mode=0755,size=1m,nr_inodes=1024") != 0) {
    return Errno(absl::StrCat("jail: tmpfs on ", root));
  }
  for (const JailMount& m : spec.mounts) RETURN_IF_ERROR(BindOne(spec, m));
  std::string old = root + "/.old";
  if (::mkdir((root + "/proc").c_str(), 0555) != 0 || ::mkdir(old.c_str(), 0700) != 0) {
    return Errno("jail: mkdir /proc, /.old");
  }
  if (::syscall(SYS_pivot_root, root.c_str(), old.c_str()) != 0) return Errno("jail: pivot_root");
  if (::chdir("/") != 0) return Errno("jail: chdir /");
  if (::umount2("/.old", MNT_DETACH) != 0) return Errno("jail: detaching the host's tree");
  if (::rmdir("/.old") != 0) return Errno("jail: rmdir /.old");
  // Only this pid namespace's processes, and nothing of /proc beyond them
  // (no /proc/sys, /proc/kcore, /proc/sysrq-trigger).
  if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "hidepid=invisible,subset=pid") != 0) {
    return Errno("jail: mounting /proc");
  }
  if (::mount(nullptr, "/", nullptr, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, nullptr) !=
      0) {
    return Errno("jail: making / read-only");
  }
  return absl::OkStatus();
}

}  // namespace clawos::jail
