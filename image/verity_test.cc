#include "image/verity.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "common/crypto/encoding.h"
#include "common/files.h"
#include "common/testing/flip_byte.h"
#include "common/testing/subprocess.h"
#include "common/testing/temp_dir.h"

namespace clawos::image {
namespace {

using clawos::testing::RunCommand;

constexpr char kVeritysetup[] = "/usr/sbin/veritysetup";
constexpr char kUuid[] = "0b2c5b1e-7d8a-4e4f-9a1b-3c2d1e0f9a8b";

std::array<uint8_t, 16> UuidBytes() {
  std::string hex;
  for (char c : std::string(kUuid)) {
    if (c != '-') hex += c;
  }
  auto b = crypto::HexDecode(hex).value();
  std::array<uint8_t, 16> out{};
  std::copy(b.begin(), b.end(), out.begin());
  return out;
}

void WriteRandom(const std::string& path, size_t bytes, unsigned seed) {
  std::mt19937 rng(seed);
  std::string data(bytes, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  ASSERT_TRUE(WriteFileAtomic(path, data, 0644).ok());
}

using clawos::testing::FlipByte;

struct Case {
  uint64_t blocks;
  const char* salt;  // "-" = none
};

class VeritysetupEquality : public ::testing::TestWithParam<Case> {};

// Same data, salt and UUID → the same root hash and the same hash file bytes.
TEST_P(VeritysetupEquality, RootHashAndHashFileMatchVeritysetup) {
  if (!PathExists(kVeritysetup))
    GTEST_SKIP() << "SKIPPED: veritysetup (cryptsetup-bin) not installed";
  const Case& c = GetParam();
  clawos::testing::TempDir dir;
  std::string data = dir.Sub("data"), ours = dir.Sub("ours"), theirs = dir.Sub("theirs");
  WriteRandom(data, c.blocks * kVerityBlockSize, static_cast<unsigned>(c.blocks));
  auto ref = RunCommand({kVeritysetup, "format", data, theirs, "--salt", c.salt, "--uuid", kUuid});
  ASSERT_EQ(ref.exit_code, 0) << ref.err;
  size_t at = ref.out.find("Root hash:");
  ASSERT_NE(at, std::string::npos) << ref.out;
  std::string want = ref.out.substr(ref.out.find_first_of("0123456789abcdef", at + 10), 64);

  VerityParams p;
  if (std::string(c.salt) != "-") p.salt = crypto::HexDecode(c.salt).value();
  p.uuid = UuidBytes();
  auto tree = VerityFormat(data, ours, p);
  ASSERT_TRUE(tree.ok()) << tree.status();
  EXPECT_EQ(crypto::HexEncode(tree->root_hash), want);
  EXPECT_EQ(ReadFile(ours).value(), ReadFile(theirs).value()) << "hash files differ";
  EXPECT_TRUE(VerityVerify(data, ours, tree->root_hash).ok());
  // And veritysetup accepts ours.
  auto check = RunCommand({kVeritysetup, "verify", data, ours, want});
  EXPECT_EQ(check.exit_code, 0) << check.err;
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, VeritysetupEquality,
    ::testing::Values(Case{1, "00112233"},  // one block: no hash blocks at all
                      Case{2, "aabbccdd"},  // one level
                      Case{128, "-"},       // exactly one full hash block, no salt
                      Case{129, "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"},
                      Case{16385, "feedface"}));  // three levels

class VerityTamper : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_.Sub("data");
    hash_ = dir_.Sub("hash");
    WriteRandom(data_, 300 * kVerityBlockSize, 7);
    VerityParams p;
    p.salt = {1, 2, 3};
    auto tree = VerityFormat(data_, hash_, p);
    ASSERT_TRUE(tree.ok());
    root_ = tree->root_hash;
    EXPECT_EQ(tree->levels, 2);
  }
  clawos::testing::TempDir dir_;
  std::string data_, hash_;
  RootHash root_{};
};

TEST_F(VerityTamper, FlippedDataByteNamesTheBlock) {
  FlipByte(data_, 123 * kVerityBlockSize + 77);
  auto s = VerityVerify(data_, hash_, root_);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("data block 123 "), std::string::npos) << s;
}

TEST_F(VerityTamper, FlippedHashByteNamesTheHashBlock) {
  // Layout: superblock, level 1 (1 block), level 0 (3 blocks). Flip in level 0 block 2.
  FlipByte(hash_, 4096 + 4096 + 2 * 4096 + 5);
  auto s = VerityVerify(data_, hash_, root_);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("hash block 2 of level 0"), std::string::npos) << s;
}

TEST_F(VerityTamper, WrongRootHashOrSaltFails) {
  RootHash other = root_;
  other[0] ^= 1;
  EXPECT_NE(VerityVerify(data_, hash_, other).message().find("level 1"), std::string::npos);
  FlipByte(hash_, 88);  // the salt in the superblock
  EXPECT_FALSE(VerityVerify(data_, hash_, root_).ok());
}

TEST(VerityTest, RejectsPartialBlocksAndEmptyFiles) {
  clawos::testing::TempDir dir;
  WriteRandom(dir.Sub("odd"), 5000, 1);
  auto s = VerityFormat(dir.Sub("odd"), dir.Sub("h"), {});
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("not a multiple of 4096"), std::string::npos);
  WriteRandom(dir.Sub("empty"), 0, 1);
  EXPECT_FALSE(VerityFormat(dir.Sub("empty"), dir.Sub("h"), {}).ok());
  EXPECT_EQ(VerityFormat(dir.Sub("missing"), dir.Sub("h"), {}).status().code(),
            absl::StatusCode::kNotFound);
  VerityParams big;
  big.salt.resize(257);
  WriteRandom(dir.Sub("d"), 4096, 1);
  EXPECT_FALSE(VerityFormat(dir.Sub("d"), dir.Sub("h"), big).ok());
}

TEST(VerityTest, SuperblockRejectsGarbage) {
  clawos::testing::TempDir dir;
  WriteRandom(dir.Sub("junk"), 4096, 3);
  auto sb = ReadVeritySuperblock(dir.Sub("junk"));
  EXPECT_EQ(sb.status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace clawos::image
