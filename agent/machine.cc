#include "agent/machine.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/random.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "agent/system.h"

namespace clawos::agent {
namespace {

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// "/dev/vdX" of the virtio disk with this serial, or "".
std::string DiskBySerial(const std::string& serial) {
  DIR* d = ::opendir("/sys/block");
  if (!d) return "";
  std::string found;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.rfind("vd", 0) != 0) continue;
    std::string s;
    if (ReadFirstLine("/sys/block/" + name + "/serial", &s) && s == serial) {
      found = "/dev/" + name;
      break;
    }
  }
  ::closedir(d);
  return found;
}

// Drops whatever the kernel cached of the block device (stale after a restore).
void FlushBlockDevice(const std::string& dev) {
  int fd = ::open(dev.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::ioctl(fd, BLKFLSBUF, 0);
  ::close(fd);
}

bool MountDisk(const std::string& serial, const std::string& where, std::string* error) {
  if (MountedType(where) != "none") return true;
  std::string dev = DiskBySerial(serial);
  if (dev.empty()) {
    if (where != "/var") return true;  // no workspace disk: commands run on the root
    if (::mount("tmpfs", "/var", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64m") != 0) {
      *error = Errno("mounting a tmpfs on /var");
      return false;
    }
    return true;
  }
  FlushBlockDevice(dev);
  if (::mount(dev.c_str(), where.c_str(), "ext4", MS_NOSUID | MS_NODEV, "") != 0) {
    *error = Errno("mounting " + serial + " (" + dev + ") on " + where);
    return false;
  }
  return true;
}

bool Matches(const std::string& s, size_t min, size_t max, const char* allowed) {
  return s.size() >= min && s.size() <= max && s.find_first_not_of(allowed) == std::string::npos;
}

}  // namespace

bool MountDisks(std::string* error) {
  return MountDisk("clawos-runtime", "/var", error) &&
         MountDisk("clawos-workspace", "/workspace", error);
}

bool SetIdentity(const std::string& hostname, const std::string& machine_id, std::string* error) {
  if (!Matches(hostname, 1, 63, "abcdefghijklmnopqrstuvwxyz0123456789-") || hostname[0] == '-') {
    *error = "the host sent a bad hostname";
    return false;
  }
  if (!Matches(machine_id, 32, 32, "0123456789abcdef")) {
    *error = "the host sent a bad machine id";
    return false;
  }
  if (::sethostname(hostname.data(), hostname.size()) != 0) {
    *error = Errno("setting the hostname");
    return false;
  }
  const std::string tmp = "/run/machine-id.new";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
  std::string line = machine_id + "\n";
  bool ok = fd >= 0 && ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  if (fd >= 0) ::close(fd);
  if (!ok || ::rename(tmp.c_str(), "/run/machine-id") != 0) {
    *error = Errno("writing /run/machine-id");
    return false;
  }
  return true;
}

bool AddEntropy(const std::string& bytes, std::string* error) {
  if (bytes.size() < 32 || bytes.size() > 512) {
    *error =
        "the host sent " + std::to_string(bytes.size()) + " bytes of entropy (32-512 expected)";
    return false;
  }
  std::vector<char> buf(sizeof(rand_pool_info) + bytes.size());
  auto* info = reinterpret_cast<rand_pool_info*>(buf.data());
  info->entropy_count = static_cast<int>(bytes.size() * 8);
  info->buf_size = static_cast<int>(bytes.size());
  std::memcpy(info->buf, bytes.data(), bytes.size());
  int fd = ::open("/dev/urandom", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    *error = Errno("opening /dev/urandom");
    return false;
  }
  bool ok = ::ioctl(fd, RNDADDENTROPY, info) == 0 && ::ioctl(fd, RNDRESEEDCRNG) == 0;
  if (!ok) *error = Errno("reseeding the kernel's RNG");
  ::close(fd);
  std::memset(buf.data(), 0, buf.size());
  return ok;
}

bool DropCaches(std::string* error) {
  ::sync();
  int fd = ::open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
  bool ok = fd >= 0 && ::write(fd, "3", 1) == 1;
  if (!ok) *error = Errno("dropping the caches");
  if (fd >= 0) ::close(fd);
  return ok;
}

}  // namespace clawos::agent
