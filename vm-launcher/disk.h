// A VM's own writable disks: sparse files formatted ext4.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace clawos::launcher {

// A sparse file of `size_mib` formatted ext4 (mode 0600), for /var or
// /workspace; ALREADY_EXISTS rather than overwriting.
absl::Status CreateExt4Disk(const std::string& path, int64_t size_mib);

}  // namespace clawos::launcher
