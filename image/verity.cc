#include "image/verity.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/crypto/encoding.h"
#include "common/crypto/openssl_util.h"
#include "common/files.h"
#include "common/status.h"

namespace clawos::image {
namespace {

constexpr uint32_t kDigestSize = 32;
constexpr uint32_t kHashesPerBlock = kVerityBlockSize / kDigestSize;  // 128
constexpr size_t kReadChunk = 1 << 20;

// sha256(salt || block) with the salt absorbed once and the state copied.
class SaltedHasher {
 public:
  explicit SaltedHasher(const std::vector<uint8_t>& salt)
      : base_(EVP_MD_CTX_new()), work_(EVP_MD_CTX_new()) {
    EVP_DigestInit_ex(base_.get(), EVP_sha256(), nullptr);
    if (!salt.empty()) EVP_DigestUpdate(base_.get(), salt.data(), salt.size());
  }
  void Hash(const uint8_t* block, size_t size, uint8_t* out) {
    EVP_MD_CTX_copy_ex(work_.get(), base_.get());
    EVP_DigestUpdate(work_.get(), block, size);
    unsigned int len = 0;
    EVP_DigestFinal_ex(work_.get(), out, &len);
  }

 private:
  crypto::internal::MdCtxPtr base_;
  crypto::internal::MdCtxPtr work_;
};

int Threads(int asked) {
  if (asked > 0) return asked;
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(std::min(n, 8u));
}

// Levels as the kernel counts them: the smallest L with (blocks-1) >> (7L) == 0.
int LevelCount(uint64_t data_blocks) {
  int levels = 0;
  while (levels * 7 < 64 && ((data_blocks - 1) >> (7 * levels)) != 0) ++levels;
  return levels;
}

uint64_t BlocksAtLevel(uint64_t data_blocks, int level) {
  uint64_t n = data_blocks;
  for (int i = 0; i <= level; ++i) n = (n + kHashesPerBlock - 1) / kHashesPerBlock;
  return n;
}

absl::StatusOr<uint64_t> FileSize(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("reading ", path));
  if (S_ISBLK(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": block devices are not supported yet"));
  }
  return static_cast<uint64_t>(st.st_size);
}

// Digests of data blocks [0, count) into out (count * 32 bytes), in parallel.
absl::Status HashDataBlocks(const std::string& path, uint64_t count,
                            const std::vector<uint8_t>& salt, int threads, uint8_t* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("opening ", path));
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  const uint64_t blocks_per_chunk = kReadChunk / kVerityBlockSize;
  const uint64_t chunks = (count + blocks_per_chunk - 1) / blocks_per_chunk;
  std::atomic<uint64_t> next{0};
  std::atomic<int> err{0};
  auto worker = [&] {
    SaltedHasher hasher(salt);
    std::vector<uint8_t> buf(kReadChunk);
    for (uint64_t c = next++; c < chunks && err == 0; c = next++) {
      uint64_t first = c * blocks_per_chunk;
      uint64_t n = std::min(blocks_per_chunk, count - first);
      size_t want = n * kVerityBlockSize, got = 0;
      while (got < want) {
        ssize_t r = ::pread(fd, buf.data() + got, want - got,
                            static_cast<off_t>(first * kVerityBlockSize + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
          err = r < 0 ? errno : EIO;
          return;
        }
        got += static_cast<size_t>(r);
      }
      for (uint64_t i = 0; i < n; ++i) {
        hasher.Hash(buf.data() + i * kVerityBlockSize, kVerityBlockSize,
                    out + (first + i) * kDigestSize);
      }
    }
  };
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  ::close(fd);
  if (err != 0) return ErrnoStatus(err, absl::StrCat("reading ", path));
  return absl::OkStatus();
}

// Packs `count` digests into zero-padded hash blocks.
std::vector<uint8_t> PackLevel(const uint8_t* digests, uint64_t count) {
  uint64_t blocks = (count + kHashesPerBlock - 1) / kHashesPerBlock;
  std::vector<uint8_t> level(blocks * kVerityBlockSize, 0);
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t block = i / kHashesPerBlock, slot = i % kHashesPerBlock;
    std::memcpy(level.data() + block * kVerityBlockSize + slot * kDigestSize,
                digests + i * kDigestSize, kDigestSize);
  }
  return level;
}

// Digests of every block of a packed level.
std::vector<uint8_t> HashLevel(const std::vector<uint8_t>& level, SaltedHasher& hasher) {
  uint64_t blocks = level.size() / kVerityBlockSize;
  std::vector<uint8_t> digests(blocks * kDigestSize);
  for (uint64_t b = 0; b < blocks; ++b) {
    hasher.Hash(level.data() + b * kVerityBlockSize, kVerityBlockSize,
                digests.data() + b * kDigestSize);
  }
  return digests;
}

void PutLe(uint8_t* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint64_t GetLe(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::vector<uint8_t> EncodeSuperblock(const VeritySuperblock& sb) {
  std::vector<uint8_t> b(kVerityBlockSize, 0);
  std::memcpy(b.data(), "verity\0\0", 8);
  PutLe(&b[8], 1, 4);  // version
  PutLe(&b[12], sb.hash_type, 4);
  std::memcpy(&b[16], sb.uuid.data(), 16);
  std::memcpy(&b[32], sb.algorithm.data(), std::min<size_t>(sb.algorithm.size(), 31));
  PutLe(&b[64], sb.data_block_size, 4);
  PutLe(&b[68], sb.hash_block_size, 4);
  PutLe(&b[72], sb.data_blocks, 8);
  PutLe(&b[80], sb.salt.size(), 2);
  std::memcpy(&b[88], sb.salt.data(), sb.salt.size());
  return b;
}

// The tree's levels, index 0 = leaves; and the root hash.
struct Tree {
  std::vector<std::vector<uint8_t>> levels;
  RootHash root{};
};

absl::StatusOr<Tree> BuildTree(const std::string& data_path, uint64_t data_blocks,
                               const std::vector<uint8_t>& salt, int threads) {
  Tree t;
  std::vector<uint8_t> digests(data_blocks * kDigestSize);
  RETURN_IF_ERROR(HashDataBlocks(data_path, data_blocks, salt, threads, digests.data()));
  SaltedHasher hasher(salt);
  int levels = LevelCount(data_blocks);
  if (levels == 0) {
    std::memcpy(t.root.data(), digests.data(), kDigestSize);
    return t;
  }
  uint64_t count = data_blocks;
  for (int i = 0; i < levels; ++i) {
    t.levels.push_back(PackLevel(digests.data(), count));
    digests = HashLevel(t.levels.back(), hasher);
    count = t.levels.back().size() / kVerityBlockSize;
  }
  std::memcpy(t.root.data(), digests.data(), kDigestSize);  // the top level is one block
  return t;
}

absl::StatusOr<uint64_t> DataBlocksOf(const std::string& data_path) {
  ASSIGN_OR_RETURN(uint64_t size, FileSize(data_path));
  if (size == 0) return absl::InvalidArgumentError(absl::StrCat(data_path, " is empty"));
  if (size % kVerityBlockSize != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(data_path, " is ", size, " bytes, not a multiple of ", kVerityBlockSize,
                     "; pad it (truncate -s) so no tail is left unprotected"));
  }
  return size / kVerityBlockSize;
}

}  // namespace

absl::StatusOr<RootHash> ParseRootHash(const std::string& hex) {
  auto bytes = crypto::HexDecode(hex);
  if (!bytes.ok() || bytes->size() != 32) {
    return absl::InvalidArgumentError("root hash must be 64 hex characters (sha256)");
  }
  RootHash out{};
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

absl::StatusOr<VerityTree> VerityFormat(const std::string& data_path, const std::string& hash_path,
                                        const VerityParams& params) {
  if (params.salt.size() > kMaxSaltSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("salt is ", params.salt.size(), " bytes; the limit is ", kMaxSaltSize));
  }
  ASSIGN_OR_RETURN(uint64_t data_blocks, DataBlocksOf(data_path));
  ASSIGN_OR_RETURN(Tree tree,
                   BuildTree(data_path, data_blocks, params.salt, Threads(params.threads)));

  VeritySuperblock sb;
  sb.data_blocks = data_blocks;
  sb.salt = params.salt;
  sb.uuid = params.uuid;
  std::string out;
  std::vector<uint8_t> head = EncodeSuperblock(sb);
  out.append(reinterpret_cast<const char*>(head.data()), head.size());
  VerityTree result;
  result.levels = static_cast<int>(tree.levels.size());
  for (int i = result.levels - 1; i >= 0; --i) {  // top level first
    out.append(reinterpret_cast<const char*>(tree.levels[i].data()), tree.levels[i].size());
    result.hash_blocks += tree.levels[i].size() / kVerityBlockSize;
  }
  RETURN_IF_ERROR(WriteFileAtomic(hash_path, out, 0644));
  result.root_hash = tree.root;
  result.data_blocks = data_blocks;
  result.hash_file_size = out.size();
  return result;
}

absl::StatusOr<VeritySuperblock> ReadVeritySuperblock(const std::string& hash_path) {
  int fd = ::open(hash_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("opening ", hash_path));
  uint8_t b[kVeritySuperblockSize];
  ssize_t n = ::pread(fd, b, sizeof(b), 0);
  ::close(fd);
  auto bad = [&](const std::string& why) {
    return absl::DataLossError(absl::StrCat(hash_path, ": ", why));
  };
  if (n != static_cast<ssize_t>(sizeof(b))) return bad("too short for a verity superblock");
  if (std::memcmp(b, "verity\0\0", 8) != 0) return bad("no verity superblock (bad signature)");
  if (GetLe(&b[8], 4) != 1) return bad("unsupported superblock version");
  VeritySuperblock sb;
  sb.hash_type = static_cast<uint32_t>(GetLe(&b[12], 4));
  std::memcpy(sb.uuid.data(), &b[16], 16);
  sb.algorithm = std::string(reinterpret_cast<const char*>(&b[32]),
                             strnlen(reinterpret_cast<const char*>(&b[32]), 32));
  sb.data_block_size = static_cast<uint32_t>(GetLe(&b[64], 4));
  sb.hash_block_size = static_cast<uint32_t>(GetLe(&b[68], 4));
  sb.data_blocks = GetLe(&b[72], 8);
  uint64_t salt_size = GetLe(&b[80], 2);
  if (salt_size > kMaxSaltSize) return bad("salt size out of range");
  sb.salt.assign(&b[88], &b[88] + salt_size);
  if (sb.hash_type != 1)
    return bad(absl::StrCat("hash type ", sb.hash_type, " is not supported (only 1)"));
  if (sb.algorithm != "sha256")
    return bad(absl::StrCat("algorithm ", sb.algorithm, " is not supported (only sha256)"));
  if (sb.data_block_size != kVerityBlockSize || sb.hash_block_size != kVerityBlockSize) {
    return bad("only 4096-byte data and hash blocks are supported");
  }
  if (sb.data_blocks == 0) return bad("zero data blocks");
  return sb;
}

absl::Status VerityVerify(const std::string& data_path, const std::string& hash_path,
                          const RootHash& root_hash, int threads) {
  ASSIGN_OR_RETURN(VeritySuperblock sb, ReadVeritySuperblock(hash_path));
  ASSIGN_OR_RETURN(uint64_t size, FileSize(data_path));
  if (size < sb.data_blocks * kVerityBlockSize) {
    return absl::DataLossError(absl::StrCat(data_path, " is ", size, " bytes but the tree covers ",
                                            sb.data_blocks, " blocks of 4096"));
  }
  int levels = LevelCount(sb.data_blocks);
  std::vector<uint64_t> offset(levels), count(levels);
  uint64_t pos = kVerityBlockSize;  // after the superblock
  for (int i = levels - 1; i >= 0; --i) {
    count[i] = BlocksAtLevel(sb.data_blocks, i);
    offset[i] = pos;
    pos += count[i] * kVerityBlockSize;
  }
  // The tree needs `pos` bytes; a file far larger is not read whole.
  ASSIGN_OR_RETURN(std::string file, ReadFile(hash_path, pos + (1 << 20)));
  const uint8_t* hf = reinterpret_cast<const uint8_t*>(file.data());
  if (file.size() < pos) {
    return absl::DataLossError(
        absl::StrCat(hash_path, " is ", file.size(), " bytes; the tree needs ", pos));
  }
  SaltedHasher hasher(sb.salt);
  uint8_t digest[kDigestSize];
  // Top-down: each block's digest must match its slot in the level above.
  for (int i = levels - 1; i >= 0; --i) {
    for (uint64_t b = 0; b < count[i]; ++b) {
      hasher.Hash(hf + offset[i] + b * kVerityBlockSize, kVerityBlockSize, digest);
      const uint8_t* want =
          i == levels - 1 ? root_hash.data()
                          : hf + offset[i + 1] + b * kDigestSize;  // parent slots are contiguous
      if (std::memcmp(digest, want, kDigestSize) != 0) {
        return absl::DataLossError(absl::StrCat("hash block ", b, " of level ", i, " (offset ",
                                                offset[i] + b * kVerityBlockSize, " in ", hash_path,
                                                ") is corrupted"));
      }
    }
  }
  std::vector<uint8_t> digests(sb.data_blocks * kDigestSize);
  RETURN_IF_ERROR(
      HashDataBlocks(data_path, sb.data_blocks, sb.salt, Threads(threads), digests.data()));
  for (uint64_t d = 0; d < sb.data_blocks; ++d) {
    const uint8_t* want = levels == 0 ? root_hash.data() : hf + offset[0] + d * kDigestSize;
    if (std::memcmp(digests.data() + d * kDigestSize, want, kDigestSize) != 0) {
      return absl::DataLossError(absl::StrCat("data block ", d, " (offset ", d * kVerityBlockSize,
                                              " in ", data_path, ") is corrupted"));
    }
  }
  return absl::OkStatus();
}

}  // namespace clawos::image
