// clawos-agent, the in-guest agent (v0). Started as PID 1 by the image's
// /sbin/init. It finds the "clawos.agent" virtio-serial port, reads the
// image's release file (so a tampered root fails here, visibly), announces
// itself, and answers line commands: PING → PONG, POWEROFF → BYE and power off.
// The launcher issue replaces the line protocol with agent.proto frames.
#include <fcntl.h>
#include <signal.h>
#include <sys/reboot.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "agent/channel.h"

namespace {

constexpr char kVersion[] = "clawos-agent/0.1";
constexpr char kRelease[] = "/etc/clawos/release";

void Console(const std::string& line) {
  int fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return;
  std::string l = "clawos-agent: " + line + "\n";
  (void)!write(fd, l.data(), l.size());
  close(fd);
}

bool WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

long UptimeMs() {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

[[noreturn]] void PowerOff() {
  sync();
  reboot(RB_POWER_OFF);
  _exit(0);
}

// The release file's first line, or the reason it cannot be read.
bool ReadRelease(std::string* out) {
  int fd = open(kRelease, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *out = std::string("cannot open ") + kRelease + ": " + std::strerror(errno);
    return false;
  }
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof(buf));
  int e = errno;
  close(fd);
  if (n < 0) {
    *out = std::string("cannot read ") + kRelease + ": " + std::strerror(e);
    return false;
  }
  std::string text(buf, static_cast<size_t>(n));
  *out = text.substr(0, text.find('\n'));
  return true;
}

// The filesystem type mounted at `dir`, or "none".
std::string MountedType(const std::string& dir) {
  std::ifstream mounts("/proc/mounts");
  std::string dev, where, type, rest, found = "none";
  while (mounts >> dev >> where >> type && std::getline(mounts, rest)) {
    if (where == dir) found = type;  // the last mount wins
  }
  return found;
}

}  // namespace

int main() {
  // As PID 1: children are reaped by the kernel.
  struct sigaction sa {};
  sa.sa_handler = SIG_IGN;
  sa.sa_flags = SA_NOCLDWAIT;
  sigaction(SIGCHLD, &sa, nullptr);

  std::string port;
  for (int i = 0; i < 500 && port.empty(); ++i) {
    port = clawos::agent::FindPort(clawos::agent::kPortName);
    if (port.empty()) usleep(10 * 1000);
  }
  if (port.empty()) {
    Console("FATAL: no virtio-serial port named clawos.agent; powering off");
    PowerOff();
  }
  int fd = -1;
  for (int i = 0; i < 500 && fd < 0; ++i) {  // the device node may lag the sysfs entry
    fd = open(port.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) usleep(10 * 1000);
  }
  if (fd < 0) {
    Console("FATAL: cannot open " + port + ": " + std::strerror(errno));
    PowerOff();
  }
  std::string release;
  bool ok = ReadRelease(&release);
  std::string hello =
      ok ? std::string("READY ") + kVersion + " uptime_ms=" + std::to_string(UptimeMs()) +
               " var=" + MountedType("/var") + " workspace=" + MountedType("/workspace") +
               " release=" + release + "\n"
         : "FAILED " + release + "\n";
  Console(ok ? "ready on " + port : release);
  WriteAll(fd, hello);

  std::string pending;
  char buf[512];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {  // host not connected: wait and retry
      usleep(100 * 1000);
      continue;
    }
    pending.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      std::string cmd = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (!cmd.empty() && cmd.back() == '\r') cmd.pop_back();
      if (cmd == "PING") {
        WriteAll(fd, "PONG\n");
      } else if (cmd == "POWEROFF") {
        WriteAll(fd, "BYE\n");
        Console("powering off on request");
        PowerOff();
      } else {
        WriteAll(fd, "ERROR unknown command\n");
      }
    }
  }
}
