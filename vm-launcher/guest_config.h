// The QEMU configuration for a VM of an image: the image's kernel, initramfs,
// command line (plus tsc_early_khz under TCG) and shared read-only root and
// hash files; the VM's own runtime and workspace disks, console log, agent
// and QMP sockets in its directory.
#pragma once

#include <string>

#include "image/manifest.h"
#include "vm-launcher/qemu_command.h"

namespace clawos::launcher {

struct GuestPaths {
  std::string image_dir;
  std::string run_dir;         // console.log, agent.sock, qmp.sock live here
  std::string runtime_disk;    // empty: /var is a tmpfs
  std::string workspace_disk;  // empty: no /workspace disk
};

QemuConfig GuestQemuConfig(const image::Manifest& manifest, const GuestPaths& paths, int vcpus,
                           int memory_mib, const std::string& accel);

}  // namespace clawos::launcher
