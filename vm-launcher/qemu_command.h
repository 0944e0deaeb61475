// The QEMU microvm command line for a ClawOS guest: pure, so it is
// table-tested without QEMU. Options as measured in
// ../shared/notes/vm-findings.md (microvm with PIT/PIC/RTC, no option ROMs,
// no default devices, disks by virtio serial, the agent channel on a
// virtio-serial port named "clawos.agent", QMP on a unix socket).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace clawos::launcher {

struct QemuDisk {
  std::string id;  // [a-z0-9_]+
  std::string path;
  std::string serial;  // what the guest's /init looks for, e.g. clawos-root
  bool readonly = false;
};

struct QemuConfig {
  std::string binary = "qemu-system-x86_64";
  std::string accel = "tcg";  // "kvm" or "tcg"
  int vcpus = 1;
  int memory_mib = 256;
  std::string kernel;  // vmlinux (PVH) or bzImage
  std::string initrd;
  std::string cmdline;  // complete (tsc_early_khz included for TCG)
  std::vector<QemuDisk> disks;
  std::string console_log;   // the serial console goes to this file
  std::string agent_socket;  // unix socket QEMU listens on for the agent port
  std::string qmp_socket;    // unix socket QEMU listens on for QMP
  // BRIDGE network mode: a virtio-net NIC on this host tap device.
  std::string tap;
  std::string mac;  // "52:54:00:xx:xx:xx"
  // Run QEMU inside this network namespace (`ip netns exec`); empty: the host's.
  std::string netns;
  // Guest RAM mapped from the file QEMU inherited as this descriptor
  // (/proc/self/fd/<n>): shared, so that the guest's writes land in it (a
  // template's boot), or private copy-on-write (a VM restored from one).
  // -1: anonymous memory.
  int ram_fd = -1;
  bool ram_shared = false;
  // Start paused, waiting for the device state over QMP (-incoming defer).
  bool incoming = false;
};

// INVALID_ARGUMENT naming the bad field.
absl::Status ValidateQemuConfig(const QemuConfig& config);
std::vector<std::string> QemuArgv(const QemuConfig& config);

// "kvm" when /dev/kvm is usable and the CPU has hardware virtualisation (vmx
// or svm in its flags), else "tcg"; `why` says which held. A /dev/kvm without
// vmx/svm is a software hypervisor (kvm-pvm) on which stock guest kernels
// die with emulation failures.
std::string DetectAccel(std::string* why, const std::string& cpuinfo_path = "/proc/cpuinfo",
                        const std::string& kvm_path = "/dev/kvm");

// The host TSC frequency in kHz (from /proc/cpuinfo), 0 when unknown. TCG
// guests need `tsc_early_khz=` or 10-40 % of boots hang.
int64_t HostTscKhz(const std::string& cpuinfo_path = "/proc/cpuinfo");

}  // namespace clawos::launcher
