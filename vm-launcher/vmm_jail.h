// The jail of one VM's VMM (jail/jail_spec.h) and QEMU's command line as
// QEMU sees it from inside: the kernel and initramfs at /vm/kernel and
// /vm/initrd, each disk at /vm/<id>.img (read-only unless it is the VM's
// own), the VM's run directory (agent and QMP sockets, console log) at
// /run/vm, /dev/null and /dev/urandom, /dev/kvm under KVM, /dev/net/tun for
// a tap; the QEMU binary, its libraries, modules and firmware read-only.
// Nothing else of the host is in it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "vm-launcher/jail/jail_spec.h"
#include "vm-launcher/qemu_command.h"

namespace clawos::launcher {

// The QEMU binary (resolved in PATH) and what it needs at run time: its
// shared libraries (by `ldd`), the loader's cache, its module directory and
// its firmware. Computed once per launcher.
struct QemuRuntime {
  std::string binary;  // absolute
  std::vector<jail::JailMount> mounts;
};
absl::StatusOr<QemuRuntime> FindQemuRuntime(const std::string& binary = "qemu-system-x86_64");

struct VmmJailOptions {
  uint32_t uid = 0;     // the VM's own uid (and gid)
  std::string vm_dir;   // <state>/vms/<name>: jail/ and vmm.pid are made here
  std::string run_dir;  // host directory of the sockets and console log (owned by uid)
  QemuRuntime runtime;
};

struct JailedVmm {
  jail::JailSpec spec;  // its argv is QEMU's, with in-jail paths
  QemuConfig inside;
};

// `host`: the VM's QEMU configuration with host paths, its socket and
// console paths inside options.run_dir. INVALID_ARGUMENT when they are not.
absl::StatusOr<JailedVmm> JailVmm(const QemuConfig& host, const VmmJailOptions& options);

}  // namespace clawos::launcher
