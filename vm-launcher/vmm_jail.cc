#include "vm-launcher/vmm_jail.h"

#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/process.h"
#include "common/status.h"

namespace clawos::launcher {
namespace {

constexpr char kRunInside[] = "/run/vm";

jail::JailMount ReadOnly(const std::string& path, bool exec) {
  return {path, path, false, exec, false};
}

// The path of `host_path` inside the run directory, or an error.
absl::StatusOr<std::string> InRunDir(const std::string& host_path, const std::string& run_dir) {
  std::string prefix = run_dir + "/";
  if (host_path.rfind(prefix, 0) != 0 || host_path.find('/', prefix.size()) != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("jail: ", host_path, " is not directly in the run directory ", run_dir));
  }
  return absl::StrCat(kRunInside, "/", host_path.substr(prefix.size()));
}

}  // namespace

absl::StatusOr<QemuRuntime> FindQemuRuntime(const std::string& binary) {
  QemuRuntime r;
  if (binary.find('/') != std::string::npos) {
    r.binary = binary;
  } else {
    ASSIGN_OR_RETURN(std::string which, RunChecked({"sh", "-c", "command -v \"$0\"", binary}));
    r.binary = std::string(absl::StripAsciiWhitespace(which));
  }
  std::error_code ec;
  r.binary = std::filesystem::canonical(r.binary, ec).string();
  if (ec) return absl::NotFoundError(absl::StrCat("QEMU binary ", binary, ": ", ec.message()));
  r.mounts.push_back(ReadOnly(r.binary, true));
  ASSIGN_OR_RETURN(std::string ldd, RunChecked({"ldd", r.binary}));
  for (absl::string_view line : absl::StrSplit(ldd, '\n')) {
    // "\tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" or "\t/lib64/ld-linux-x86-64.so.2
    // (0x...)"
    size_t arrow = line.find("=> ");
    absl::string_view rest = arrow == absl::string_view::npos
                                 ? absl::StripLeadingAsciiWhitespace(line)
                                 : line.substr(arrow + 3);
    if (rest.empty() || rest[0] != '/') continue;  // linux-vdso, "not found"
    std::string path(rest.substr(0, rest.find(' ')));
    r.mounts.push_back(ReadOnly(path, true));
  }
  for (const char* dir : {"/etc/ld.so.cache", "/usr/lib/x86_64-linux-gnu/qemu", "/usr/share/qemu",
                          "/usr/share/seabios", "/usr/lib/ipxe/qemu"}) {
    if (PathExists(dir))
      r.mounts.push_back(ReadOnly(dir, std::string(dir).find("/lib/") != std::string::npos));
  }
  return r;
}

absl::StatusOr<JailedVmm> JailVmm(const QemuConfig& host, const VmmJailOptions& o) {
  JailedVmm j;
  QemuConfig& in = j.inside;
  in = host;
  in.binary = o.runtime.binary;
  in.netns.clear();  // the jail joins it
  in.kernel = "/vm/kernel";
  in.initrd = "/vm/initrd";
  ASSIGN_OR_RETURN(in.console_log, InRunDir(host.console_log, o.run_dir));
  ASSIGN_OR_RETURN(in.agent_socket, InRunDir(host.agent_socket, o.run_dir));
  ASSIGN_OR_RETURN(in.qmp_socket, InRunDir(host.qmp_socket, o.run_dir));
  jail::JailSpec& s = j.spec;
  s.root = o.vm_dir + "/jail";
  s.uid = s.gid = o.uid;
  s.mounts = o.runtime.mounts;
  s.mounts.push_back({host.kernel, in.kernel, false, false, false});
  s.mounts.push_back({host.initrd, in.initrd, false, false, false});
  for (size_t i = 0; i < host.disks.size(); ++i) {
    in.disks[i].path = absl::StrCat("/vm/", host.disks[i].id, ".img");
    s.mounts.push_back(
        {host.disks[i].path, in.disks[i].path, !host.disks[i].readonly, false, false});
  }
  s.mounts.push_back({o.run_dir, kRunInside, true, false, false});
  for (const char* dev : {"/dev/null", "/dev/urandom"})
    s.mounts.push_back({dev, dev, true, false, true});
  if (host.accel == "kvm") s.mounts.push_back({"/dev/kvm", "/dev/kvm", true, false, true});
  if (!host.tap.empty()) s.mounts.push_back({"/dev/net/tun", "/dev/net/tun", true, false, true});
  if (!host.netns.empty()) s.netns = "/run/netns/" + host.netns;
  s.nofile = 4096;
  s.nproc = 512;
  s.hostname = "clawos-vmm";
  s.pid_file = o.vm_dir + "/vmm.pid";
  if (host.ram_fd >= 0) s.keep_fds.push_back(host.ram_fd);
  s.argv = QemuArgv(in);
  RETURN_IF_ERROR(jail::ValidateJailSpec(s));
  return j;
}

}  // namespace clawos::launcher
