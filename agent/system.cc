#include "agent/system.h"

#include <fcntl.h>
#include <net/if.h>
#include <openssl/evp.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>

namespace clawos::agent {

void Console(const std::string& line) {
  int fd = ::open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return;
  std::string l = "clawos-agent: " + line + "\n";
  (void)!::write(fd, l.data(), l.size());
  ::close(fd);
}

int64_t UptimeMs() {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

uint64_t MemAvailableBytes() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (f >> key >> kb >> unit) {
    if (key == "MemAvailable:") return kb * 1024;
  }
  return 0;
}

uint64_t FreeBytes(const std::string& dir) {
  struct statvfs s {};
  if (::statvfs(dir.c_str(), &s) != 0) return 0;
  return uint64_t{s.f_bavail} * s.f_frsize;
}

std::string MountedType(const std::string& dir) {
  std::ifstream mounts("/proc/mounts");
  std::string dev, where, type, rest, found = "none";
  while (mounts >> dev >> where >> type && std::getline(mounts, rest)) {
    if (where == dir) found = type;  // the last mount wins
  }
  return found;
}

std::string KernelRelease() {
  utsname u{};
  return ::uname(&u) == 0 ? u.release : "";
}

bool ReadFirstLine(const std::string& path, std::string* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *out = "cannot open " + path + ": " + std::strerror(errno);
    return false;
  }
  char buf[4096];
  ssize_t n = ::read(fd, buf, sizeof(buf));
  int e = errno;
  ::close(fd);
  if (n < 0) {
    *out = "cannot read " + path + ": " + std::strerror(e);
    return false;
  }
  std::string text(buf, static_cast<size_t>(n));
  *out = text.substr(0, text.find('\n'));
  return true;
}

void SetClock(int64_t unix_ns) {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  int64_t ours = int64_t{now.tv_sec} * 1000000000 + now.tv_nsec;
  if (unix_ns <= 0 || (ours - unix_ns < 1000000000 && unix_ns - ours < 1000000000)) return;
  timespec t{static_cast<time_t>(unix_ns / 1000000000), static_cast<long>(unix_ns % 1000000000)};
  clock_settime(CLOCK_REALTIME, &t);
}

bool BringUpLoopback(std::string* error) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  bool ok = fd >= 0 && ::ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
  if (ok && !(ifr.ifr_flags & IFF_UP)) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    ok = ::ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
  }
  if (!ok) *error = std::string("bringing up lo: ") + std::strerror(errno);
  if (fd >= 0) ::close(fd);
  return ok;
}

void PowerOff() {
  ::sync();
  ::umount2("/workspace", MNT_DETACH);
  ::umount2("/var", MNT_DETACH);
  ::sync();
  ::reboot(RB_POWER_OFF);
  ::_exit(0);
}

bool FileSha256(const std::string& path, std::string* hex) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  char buf[64 * 1024];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) EVP_DigestUpdate(ctx.get(), buf, n);
  ::close(fd);
  if (n < 0) return false;
  unsigned char md[32];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  static const char kHex[] = "0123456789abcdef";
  hex->clear();
  for (unsigned i = 0; i < len; ++i) {
    hex->push_back(kHex[md[i] >> 4]);
    hex->push_back(kHex[md[i] & 15]);
  }
  return true;
}

}  // namespace clawos::agent
