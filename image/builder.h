// `clawos image build`: guest kernel, initramfs, read-only root, dm-verity
// tree and manifest.json in one directory, reproducibly (same inputs and
// SOURCE_DATE_EPOCH → the same root filesystem bytes and root hash).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "image/manifest.h"

namespace clawos::image {

inline constexpr int64_t kDefaultSourceDateEpoch = 1704067200;  // 2024-01-01T00:00:00Z

struct BuildOptions {
  std::string out_dir;
  std::string rootfs_format = "ext4";
  std::string agent_path;  // static clawos-agent
  std::string cache_dir;   // downloads and unpacked kernels
  std::string kernel_package = "linux-image-cloud-amd64";
  int64_t source_date_epoch = kDefaultSourceDateEpoch;
  // Called with each step as it starts.
  std::function<void(const std::string&)> progress;
};

// $XDG_CACHE_HOME/clawos, else $HOME/.cache/clawos.
std::string DefaultCacheDir();

absl::StatusOr<Manifest> BuildImage(const BuildOptions& options);

}  // namespace clawos::image
