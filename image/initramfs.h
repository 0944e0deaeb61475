// The initramfs: busybox (static), dmsetup with the shared libraries it
// needs, the kernel modules for virtio and dm-verity in load order, and /init.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "image/kernel.h"

namespace clawos::image {

// Modules the guest loads, by name (dependencies are added by ModuleLoadOrder).
std::vector<std::string> GuestModules(const std::string& rootfs_format);

// The newc cpio bytes.
absl::StatusOr<std::string> BuildInitramfs(const GuestKernel& kernel,
                                           const std::string& rootfs_format, int64_t mtime);

}  // namespace clawos::image
