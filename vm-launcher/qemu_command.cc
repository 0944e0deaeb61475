#include "vm-launcher/qemu_command.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace clawos::launcher {
namespace {

// Characters that would break QEMU's comma-separated option syntax.
bool SafeOptionValue(const std::string& v) {
  return !v.empty() && v.find(',') == std::string::npos && v.find('\n') == std::string::npos;
}

}  // namespace

absl::Status ValidateQemuConfig(const QemuConfig& c) {
  auto bad = [](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("qemu: ", what));
  };
  if (c.accel != "kvm" && c.accel != "tcg") return bad("accel must be kvm or tcg");
  if (c.vcpus < 1 || c.vcpus > 64) return bad("vcpus must be 1-64");
  if (c.memory_mib < 64 || c.memory_mib > 1 << 20) return bad("memory must be 64 MiB - 1 TiB");
  for (const auto* f : {&c.kernel, &c.initrd, &c.console_log, &c.agent_socket, &c.qmp_socket}) {
    if (!SafeOptionValue(*f)) return bad("paths must be set and contain no ','");
  }
  if (c.cmdline.find('\n') != std::string::npos) return bad("cmdline must be one line");
  if (!c.tap.empty()) {
    if (c.tap.size() > 15 ||
        c.tap.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789") != std::string::npos) {
      return bad("tap must be 1-15 of [a-z0-9]");
    }
    if (c.mac.size() != 17 || c.mac.find_first_not_of("0123456789abcdef:") != std::string::npos) {
      return bad("mac must be xx:xx:xx:xx:xx:xx (lower-case hex)");
    }
  }
  if (c.ram_fd >= 0 && c.ram_fd < 3) return bad("ram_fd must be 3 or more");
  if (c.incoming && c.ram_fd < 0) return bad("a restore needs the template's RAM (ram_fd)");
  if (!c.netns.empty() &&
      c.netns.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-_") != std::string::npos) {
    return bad("netns must be [a-z0-9_-]+");
  }
  for (const QemuDisk& d : c.disks) {
    if (d.id.empty() ||
        d.id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos) {
      return bad(absl::StrCat("disk id \"", d.id, "\" must be [a-z0-9_]+"));
    }
    if (!SafeOptionValue(d.path) || !SafeOptionValue(d.serial) || d.serial.size() > 20) {
      return bad(absl::StrCat("disk ", d.id,
                              ": path and serial (at most 20 characters) must be set, no ','"));
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> QemuArgv(const QemuConfig& c) {
  std::vector<std::string> a;
  if (!c.netns.empty()) a = {"ip", "netns", "exec", c.netns};  // execs QEMU: same pid
  a.insert(a.end(), {
                        c.binary,
                        "-M",
                        absl::StrCat("microvm,x-option-roms=off,pit=on,pic=on,rtc=on",
                                     c.ram_fd >= 0 ? ",memory-backend=ram" : ""),
                        "-accel",
                        c.accel == "kvm" ? "kvm" : "tcg,tb-size=32",
                        "-m",
                        std::to_string(c.memory_mib),
                        "-smp",
                        std::to_string(c.vcpus),
                        "-nodefaults",
                        "-no-user-config",
                        "-nographic",
                        "-no-reboot",
                        // QEMU's own seccomp filter, on top of the jail's.
                        "-sandbox",
                        "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
                        "-kernel",
                        c.kernel,
                        "-initrd",
                        c.initrd,
                        "-append",
                        c.cmdline,
                        "-chardev",
                        "file,id=con,append=on,path=" + c.console_log,
                        "-serial",
                        "chardev:con",
                        "-qmp",
                        "unix:" + c.qmp_socket + ",server=on,wait=off",
                    });
  if (c.ram_fd >= 0) {
    a.insert(a.end(), {"-object", absl::StrCat("memory-backend-file,id=ram,size=", c.memory_mib,
                                               "M,mem-path=/proc/self/fd/", c.ram_fd,
                                               c.ram_shared ? ",share=on" : ",share=off")});
  }
  if (c.incoming) a.insert(a.end(), {"-incoming", "defer"});
  for (const QemuDisk& d : c.disks) {
    a.insert(a.end(),
             {"-drive",
              absl::StrCat("id=", d.id, ",file=", d.path, ",format=raw,if=none",
                           d.readonly ? ",readonly=on" : ""),
              "-device", absl::StrCat("virtio-blk-device,drive=", d.id, ",serial=", d.serial)});
  }
  a.insert(a.end(), {"-device", "virtio-serial-device", "-chardev",
                     "socket,id=agent,path=" + c.agent_socket + ",server=on,wait=off", "-device",
                     "virtserialport,chardev=agent,name=clawos.agent"});
  if (!c.tap.empty()) {
    a.insert(a.end(), {"-netdev", "tap,id=net0,ifname=" + c.tap + ",script=no,downscript=no",
                       "-device", "virtio-net-device,netdev=net0,mac=" + c.mac});
  }
  return a;
}

int64_t HostTscKhz(const std::string& cpuinfo_path) {
  std::ifstream f(cpuinfo_path);
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("cpu MHz", 0) == 0) {
      return static_cast<int64_t>(std::atof(line.substr(line.find(':') + 1).c_str()) * 1000);
    }
  }
  return 0;
}

std::string DetectAccel(std::string* why, const std::string& cpuinfo_path,
                        const std::string& kvm_path) {
  if (::access(kvm_path.c_str(), R_OK | W_OK) != 0) {
    *why = kvm_path + " is not usable";
    return "tcg";
  }
  std::ifstream f(cpuinfo_path);
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::string w;
    while (words >> w) {
      if (w == "vmx" || w == "svm") {
        *why = kvm_path + " is usable and the CPU has " + w;
        return "kvm";
      }
    }
    break;
  }
  *why = kvm_path + " exists but the CPU has no vmx/svm (a software hypervisor): using TCG";
  return "tcg";
}

}  // namespace clawos::launcher
