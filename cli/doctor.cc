#include "cli/doctor.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cli/stack_nginx.h"
#include "common/files.h"
#include "common/http/client.h"
#include "common/process.h"
#include "vm-launcher/qemu_command.h"

namespace clawos::cli {
namespace {

Check Ok(std::string name, std::string what) { return {Check::kOk, name, what, ""}; }
Check Warn(std::string name, std::string what, std::string fix) {
  return {Check::kWarn, name, what, fix};
}
Check Fail(std::string name, std::string what, std::string fix) {
  return {Check::kFail, name, what, fix};
}

// The first line a program prints for `args`, or "" when it cannot run.
std::string FirstLine(const std::vector<std::string>& argv) {
  ProcessOptions o;
  o.timeout = absl::Seconds(10);
  auto r = RunProcess(argv, o);
  if (!r.ok() || r->exit_code != 0) return "";
  std::string text = r->out.empty() ? r->err : r->out;
  return std::string(absl::StripAsciiWhitespace(text.substr(0, text.find('\n'))));
}

// The launcher's own choice (vm-launcher/qemu_command.h), so doctor says what
// VMs will really get.
Check Kvm() {
  std::string why;
  if (launcher::DetectAccel(&why) == "kvm")
    return Ok("kvm", why + ": VMs get hardware acceleration");
  return Warn("kvm", why + "; VMs run under QEMU's TCG, several times slower",
              "a host with VT-x/AMD-V (or nested virtualization), kvm_intel/kvm_amd loaded");
}

Check Qemu() {
  std::string v = FirstLine({"qemu-system-x86_64", "--version"});
  if (v.empty())
    return Fail("qemu", "qemu-system-x86_64 is not installed", "apt-get install qemu-system-x86");
  return Ok("qemu", v);
}

Check Image(const StackPaths& p) {
  if (!PathExists(p.image_dir + "/manifest.json")) {
    return Warn("guest image", p.image_dir + " has no image yet",
                "`clawos up` builds and signs it (a few minutes, once)");
  }
  if (!PathExists(p.image_dir + "/manifest.sig")) {
    return Fail("guest image", p.image_dir + " is not signed",
                "clawos image sign --key <signing.key> " + p.image_dir);
  }
  if (!PathExists(p.pubkey)) {
    return Fail("guest image", "the signing public key " + p.pubkey + " is missing",
                "set CLAWOS_SIGNING_PUBKEY or rebuild with `clawos up`");
  }
  return Ok("guest image", p.image_dir + " (signed; its key " + p.pubkey + ")");
}

Check Bpf() {
  if (!PathExists("/sys/kernel/btf/vmlinux")) {
    return Fail("bpf", "no kernel BTF (/sys/kernel/btf/vmlinux): the monitor cannot load",
                "use a kernel built with CONFIG_DEBUG_INFO_BTF=y (Debian's is)");
  }
  if (geteuid() != 0) {
    return Warn("bpf", "kernel BTF present; not root, so the monitor cannot load here",
                "run the stack as root");
  }
  return Ok("bpf", "kernel BTF present, running as root (CAP_BPF, CAP_PERFMON)");
}

Check Cgroups() {
  if (PathExists("/sys/fs/cgroup/cgroup.controllers"))
    return Ok("cgroup v2", "unified hierarchy at /sys/fs/cgroup");
  if (PathExists("/sys/fs/cgroup/unified/cgroup.controllers")) {
    return Ok("cgroup v2", "hybrid: v2 at /sys/fs/cgroup/unified, limits in v1");
  }
  return Fail("cgroup v2", "no cgroup v2 hierarchy",
              "boot with systemd.unified_cgroup_hierarchy=1 (the default on Debian 12)");
}

Check Nginx() {
  std::string n = FindNginx();
  if (n.empty())
    return Warn("nginx", "not installed: no TLS front",
                "apt-get install nginx (`clawos up` then serves https)");
  std::string v = FirstLine({n, "-v"});
  return Ok("nginx", v.empty() ? n : v);
}

Check Disk(const std::string& state) {
  std::string dir = state;
  while (!PathExists(dir) && dir.find('/') != std::string::npos && dir != "/") {
    dir = dir.substr(0, dir.rfind('/'));
    if (dir.empty()) dir = "/";
  }
  struct statvfs s;
  if (statvfs(dir.c_str(), &s) != 0) return Warn("disk", "cannot stat " + dir, "");
  double gib = static_cast<double>(s.f_bavail) * s.f_frsize / (1 << 30);
  std::string what = absl::StrFormat("%.1f GiB free under %s", gib, dir);
  if (gib < 0.5) return Fail("disk", what, "free space: images and VM disks need a few GiB");
  if (gib < 2) return Warn("disk", what, "images and VM disks need a few GiB");
  return Ok("disk", what);
}

Check Memory() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kib = -1;
  while (in >> key) {
    int64_t v;
    std::string unit;
    in >> v >> unit;
    if (key == "MemAvailable:") kib = v;
  }
  if (kib < 0) return Warn("memory", "MemAvailable unknown", "");
  double mib = kib / 1024.0;
  std::string what = absl::StrFormat("%.0f MiB available", mib);
  if (mib < 512) return Fail("memory", what, "each VM needs 256 MiB or more; free memory");
  if (mib < 1024) return Warn("memory", what, "room for few VMs");
  return Ok("memory", what);
}

// Whether a launcher process (its flags, then its environment) runs VMMs unjailed.
bool JailOff(pid_t launcher) {
  auto cmdline = ReadFile(absl::StrCat("/proc/", launcher, "/cmdline"), 1 << 16);
  auto environ = ReadFile(absl::StrCat("/proc/", launcher, "/environ"), 1 << 20);
  std::vector<std::string> args = absl::StrSplit(cmdline.value_or(""), '\0');
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--jail=off" ||
        (args[i] == "--jail" && i + 1 < args.size() && args[i + 1] == "off")) {
      return true;
    }
    if (args[i] == "--jail" || args[i].rfind("--jail=", 0) == 0) return false;
  }
  for (absl::string_view e : absl::StrSplit(environ.value_or(""), '\0')) {
    if (e == "CLAWOS_LAUNCHER_JAIL=off") return true;
  }
  return false;
}

// The VMM jail (docs/vm-launcher.md): on in the running launcher (or in what
// `clawos up` would start), clawos-jailer beside this program, Landlock.
Check Jail(pid_t launcher) {
  const char* env = std::getenv("CLAWOS_LAUNCHER_JAIL");
  if (launcher ? JailOff(launcher) : env && std::string(env) == "off") {
    return Warn("jail", "VMMs run unjailed, as root (--jail off)",
                "drop --jail off / CLAWOS_LAUNCHER_JAIL=off: it is for debugging only");
  }
  std::error_code ec;
  std::string jailer =
      std::filesystem::read_symlink("/proc/self/exe", ec).parent_path().string() + "/clawos-jailer";
  if (!PathExists(jailer)) {
    return Fail("jail", jailer + " is missing: the launcher cannot start VMs",
                "install clawos-jailer beside the other binaries");
  }
  long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, 1U /* VERSION */);
  if (abi < 1) {
    return Warn("jail",
                "on, without Landlock (the kernel has none): files are confined by "
                "the jail's mount namespace alone",
                "a kernel with CONFIG_SECURITY_LANDLOCK and landlock in lsm=");
  }
  return Ok("jail", absl::StrCat("on: each VMM as its own uid, in its own namespaces, no "
                                 "capabilities, Landlock ABI ",
                                 abi, ", seccomp"));
}

bool PortFree(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

}  // namespace

std::vector<Check> RunChecks(const StackOptions& stack) {
  const StackPaths p = PathsFor(stack);
  const std::string url = absl::StrCat("http://127.0.0.1:", p.port(8080));
  std::vector<Check> out = {Kvm(),     Qemu(),  Image(p),      Bpf(),
                            Cgroups(), Nginx(), Disk(p.state), Memory()};
  // The stack: running daemons answer; ports of stopped ones are free.
  bool any_running = false;
  std::vector<std::pair<std::string, int>> ports = {
      {"identity", 2082},     {"inference-proxy", 11435}, {"monitor", 2083}, {"launcher", 2080},
      {"orchestrator", 2081}, {"controlplane", 8080},     {"nginx", 8443}};
  pid_t launcher_pid = 0;
  for (const auto& st : StackStatus(stack)) {
    if (st.name == "launcher") launcher_pid = st.pid;
    if (st.pid) {
      any_running = true;
      out.push_back(Ok(st.name, absl::StrCat("running (pid ", st.pid, ")")));
      continue;
    }
    for (const auto& [name, base] : ports) {
      if (name != st.name) continue;
      int port = p.port(base);
      if (PortFree(port)) {
        out.push_back(Ok(st.name, absl::StrCat("not running; port ", port, " is free")));
      } else {
        out.push_back(Fail(
            st.name, absl::StrCat("not running, and port ", port, " is taken by another program"),
            absl::StrCat("free port ", port, " (ss -ltnp 'sport = :", port,
                         "') or use --port-offset")));
      }
    }
  }
  out.push_back(Jail(launcher_pid));
  if (any_running) {
    auto u = http::ParseUrl(url);
    if (u.ok()) {
      auto c = http::ClientCall::Start(*u, {"GET", "/readyz", {}, ""}, absl::Seconds(5));
      if (!c.ok()) {
        out.push_back(Fail("readiness", absl::StrCat(url, ": ", c.status().message()),
                           "clawos up (or see <state>/logs)"));
      } else if ((*c)->head().status == 200) {
        out.push_back(Ok("readiness", url + "/readyz: every daemon answers"));
      } else {
        out.push_back(Fail("readiness", url + "/readyz: " + (*c)->ReadAll(),
                           "see <state>/logs/<daemon>.log"));
      }
    }
  }
  return out;
}

}  // namespace clawos::cli
