#include "vm-launcher/guest_config.h"

#include "absl/strings/str_cat.h"

namespace clawos::launcher {

QemuConfig GuestQemuConfig(const image::Manifest& m, const GuestPaths& p, int vcpus, int memory_mib,
                           const std::string& accel) {
  QemuConfig c;
  c.accel = accel;
  c.vcpus = vcpus;
  c.memory_mib = memory_mib;
  c.kernel = p.image_dir + "/" + m.vmlinux.path;
  c.initrd = p.image_dir + "/" + m.initramfs.path;
  c.cmdline = m.cmdline;
  if (accel == "tcg") {
    if (int64_t khz = HostTscKhz(); khz > 0) c.cmdline += absl::StrCat(" tsc_early_khz=", khz);
  }
  c.console_log = p.run_dir + "/console.log";
  c.agent_socket = p.run_dir + "/agent.sock";
  c.qmp_socket = p.run_dir + "/qmp.sock";
  c.disks.push_back({"root", p.image_dir + "/" + m.rootfs.path, "clawos-root", true});
  c.disks.push_back({"hash", p.image_dir + "/" + m.verity_hash.path, "clawos-hash", true});
  if (!p.runtime_disk.empty())
    c.disks.push_back({"runtime", p.runtime_disk, "clawos-runtime", false});
  if (!p.workspace_disk.empty()) {
    c.disks.push_back({"workspace", p.workspace_disk, "clawos-workspace", false});
  }
  return c;
}

}  // namespace clawos::launcher
