// The read-only root filesystem: a staging tree (busybox, CA certificates,
// clawos-agent, /sbin/init) with fixed owners and timestamps, made into an
// ext4, erofs or squashfs image whose size is a multiple of 4096.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace clawos::image {

struct RootfsOptions {
  std::string format = "ext4";  // ext4, erofs, squashfs
  std::string agent_path;       // a statically linked clawos-agent
  std::string release;          // contents of /etc/clawos/release
  int64_t source_date_epoch = 0;
  std::string uuid;  // for ext4 / erofs, 8-4-4-4-12
};

// Fills `staging` (which must not exist) with the root tree.
absl::Status StageRootfs(const std::string& staging, const RootfsOptions& options);
// Makes the image file from the staging tree.
absl::Status MakeRootfsImage(const std::string& staging, const std::string& image,
                             const RootfsOptions& options);

// True for an ELF with no PT_INTERP (needs no dynamic loader).
absl::StatusOr<bool> IsStaticElf(const std::string& path);
// The uuid form of the first 16 bytes of `seed` (a digest).
std::string UuidFromDigest(const std::array<uint8_t, 32>& digest);

}  // namespace clawos::image
