// manifest.json: what an image is made of, each file with its size and
// SHA-256, the dm-verity parameters, the kernel command line and the build's
// inputs. It is written in canonical form (sorted keys, no whitespace, one
// trailing newline) and those bytes are what `clawos image sign` signs.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace clawos::image {

inline constexpr char kManifestFile[] = "manifest.json";
inline constexpr char kSignatureFile[] = "manifest.sig";
// The most read of manifest.json or manifest.sig (each a few KiB): a larger
// one, or a link to /dev/zero, is refused before it costs memory.
inline constexpr size_t kMaxManifestBytes = 1 << 20;
inline constexpr char kManifestFormat[] = "clawos-image/1";

struct ManifestFile {
  std::string path;  // relative to the image directory, no "/" or ".."
  uint64_t size = 0;
  std::string sha256;  // hex
};

struct ManifestVerity {
  int hash_type = 1;
  std::string algorithm = "sha256";
  uint32_t data_block_size = 4096;
  uint32_t hash_block_size = 4096;
  uint64_t data_blocks = 0;
  uint64_t hash_start_block = 1;  // the hash file starts with a superblock
  std::string root_hash;          // hex
  std::string salt;               // hex
  std::string uuid;               // the superblock's, 8-4-4-4-12
};

struct Manifest {
  std::string format = kManifestFormat;
  std::string name = "clawos-agent";
  std::string kernel_version;
  ManifestFile kernel;     // bzImage
  ManifestFile vmlinux;    // uncompressed ELF (PVH entry), for Firecracker and fast QEMU boots
  ManifestFile initramfs;  // newc cpio
  ManifestFile rootfs;
  std::string rootfs_format;  // ext4, erofs or squashfs
  ManifestFile verity_hash;   // the hash file: superblock + tree
  ManifestVerity verity;
  std::string cmdline;  // without host-specific parameters (tsc_early_khz)
  int64_t source_date_epoch = 0;
  nlohmann::json inputs = nlohmann::json::object();  // packages and versions
};

nlohmann::json ManifestToJson(const Manifest& m);
// INVALID_ARGUMENT naming the first missing or malformed field.
absl::StatusOr<Manifest> ManifestFromJson(const nlohmann::json& j);
// The canonical bytes: compact JSON with sorted keys and a newline.
std::string CanonicalManifest(const Manifest& m);
// Reads DIR/manifest.json; refuses a file that is not in canonical form, so
// the signed bytes are the only reading of it.
absl::StatusOr<Manifest> ReadManifest(const std::string& dir, std::string* raw = nullptr);
absl::Status WriteManifest(const std::string& dir, const Manifest& m);

// The kernel command line's ClawOS part: the verity parameters /init needs.
std::string VerityCmdline(const Manifest& m);

}  // namespace clawos::image
