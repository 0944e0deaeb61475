// dm-verity hash trees (format 1, sha256), bit-identical to `veritysetup format`:
// the same salt, UUID and block sizes give the same hash file and root hash.
//
// Layout of the hash file: a 512-byte veritysetup superblock padded to one hash
// block, then the tree's levels from the top (one block) down to the leaves.
// A leaf digest is sha256(salt || data block); an upper digest is
// sha256(salt || hash block); the root hash is sha256(salt || top block), or of
// the only data block when there is one (then there are no hash blocks).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace clawos::image {

inline constexpr uint32_t kVerityBlockSize = 4096;
inline constexpr size_t kVeritySuperblockSize = 512;
inline constexpr size_t kMaxSaltSize = 256;

using RootHash = std::array<uint8_t, 32>;

struct VerityParams {
  std::vector<uint8_t> salt;       // at most 256 bytes; empty is allowed
  std::array<uint8_t, 16> uuid{};  // stored in the superblock
  int threads = 0;                 // 0: one per CPU
};

// What a hash file's superblock says.
struct VeritySuperblock {
  uint32_t hash_type = 1;
  std::string algorithm = "sha256";
  uint32_t data_block_size = kVerityBlockSize;
  uint32_t hash_block_size = kVerityBlockSize;
  uint64_t data_blocks = 0;
  std::vector<uint8_t> salt;
  std::array<uint8_t, 16> uuid{};
};

struct VerityTree {
  RootHash root_hash{};
  uint64_t data_blocks = 0;
  uint64_t hash_blocks = 0;       // tree blocks, without the superblock
  uint64_t hash_start_block = 1;  // in hash blocks: the superblock comes first
  uint64_t hash_file_size = 0;
  int levels = 0;
};

// Builds the hash file for `data_path` (its size must be a non-zero multiple
// of 4096: an unprotected tail is refused, where veritysetup would ignore it).
absl::StatusOr<VerityTree> VerityFormat(const std::string& data_path, const std::string& hash_path,
                                        const VerityParams& params);

absl::StatusOr<VeritySuperblock> ReadVeritySuperblock(const std::string& hash_path);

// Checks every hash block from the top and every data block against
// `root_hash`. DATA_LOSS names the first bad block, e.g.
// "data block 17 is corrupted" or "hash block 2 of level 0 is corrupted".
absl::Status VerityVerify(const std::string& data_path, const std::string& hash_path,
                          const RootHash& root_hash, int threads = 0);

// "1234abcd..." → RootHash; INVALID_ARGUMENT unless 64 hex characters.
absl::StatusOr<RootHash> ParseRootHash(const std::string& hex);

}  // namespace clawos::image
