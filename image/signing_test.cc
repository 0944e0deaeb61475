#include "image/signing.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "common/crypto/encoding.h"
#include "common/files.h"
#include "common/testing/flip_byte.h"
#include "common/testing/temp_dir.h"
#include "image/testing/fake_image.h"

namespace clawos::image {
namespace {

using clawos::testing::FlipByte;

class SigningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    img_ = dir_.Sub("img");
    ASSERT_EQ(mkdir(img_.c_str(), 0755), 0);
    testing::MakeFakeImage(img_);
    pub_ = GenerateSigningKey(dir_.Sub("keys")).value();
    auto key = LoadSigningKey(dir_.Sub("keys") + "/signing.key");
    ASSERT_TRUE(key.ok()) << key.status();
    ASSERT_TRUE(SignImage(img_, *key).ok());
  }
  absl::Status Verify(bool full = false) { return VerifyImage(img_, pub_, {full}).status(); }
  void ExpectFailure(absl::StatusCode code, const std::string& part, bool full = false) {
    auto s = Verify(full);
    EXPECT_EQ(s.code(), code) << s;
    EXPECT_NE(s.message().find(part), std::string::npos)
        << "\"" << s.message() << "\" lacks \"" << part << "\"";
  }
  clawos::testing::TempDir dir_;
  std::string img_;
  crypto::Ed25519PublicKey pub_{};
};

TEST_F(SigningTest, SignedImageVerifies) {
  EXPECT_TRUE(Verify().ok());
  EXPECT_TRUE(Verify(/*full=*/true).ok());
}

TEST_F(SigningTest, KeyFilesHaveTheRightModesAndAreNotOverwritten) {
  struct stat st {};
  stat((dir_.Sub("keys") + "/signing.key").c_str(), &st);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  stat(dir_.Sub("keys").c_str(), &st);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(GenerateSigningKey(dir_.Sub("keys")).status().code(), absl::StatusCode::kAlreadyExists);
  chmod((dir_.Sub("keys") + "/signing.key").c_str(), 0644);
  EXPECT_FALSE(LoadSigningKey(dir_.Sub("keys") + "/signing.key").ok());
}

TEST_F(SigningTest, PublicKeyFromHexOrFile) {
  std::string hex = crypto::HexEncode(pub_);
  EXPECT_EQ(ParsePublicKey(hex).value(), pub_);
  EXPECT_EQ(ParsePublicKey(dir_.Sub("keys") + "/signing.pub").value(), pub_);
  EXPECT_FALSE(ParsePublicKey("abcd").ok());
}

TEST_F(SigningTest, UnsignedImage) {
  unlink((img_ + "/manifest.sig").c_str());
  ExpectFailure(absl::StatusCode::kPermissionDenied, "unsigned");
}

TEST_F(SigningTest, WrongPublicKey) {
  auto other = GenerateSigningKey(dir_.Sub("other")).value();
  auto s = VerifyImage(img_, other);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.status().message().find("wrong key"), std::string::npos) << s.status();
}

TEST_F(SigningTest, FlippedSignature) {
  std::string sig = ReadFile(img_ + "/manifest.sig").value();
  size_t at = sig.find("\"sig\":\"") + 10;
  sig[at] = sig[at] == 'A' ? 'B' : 'A';
  ASSERT_TRUE(WriteFileAtomic(img_ + "/manifest.sig", sig, 0644).ok());
  ExpectFailure(absl::StatusCode::kPermissionDenied, "does not verify");
}

TEST_F(SigningTest, EditedManifest) {
  std::string m = ReadFile(img_ + "/manifest.json").value();
  size_t at = m.find("console=ttyS0");
  m.replace(at, 13, "console=ttyS1");  // still canonical JSON, different bytes
  ASSERT_TRUE(WriteFileAtomic(img_ + "/manifest.json", m, 0644).ok());
  ExpectFailure(absl::StatusCode::kPermissionDenied, "does not verify");
  m.insert(1, " ");  // not canonical any more
  ASSERT_TRUE(WriteFileAtomic(img_ + "/manifest.json", m, 0644).ok());
  ExpectFailure(absl::StatusCode::kInvalidArgument, "canonical");
}

TEST_F(SigningTest, FlippedKernelByte) {
  FlipByte(img_ + "/vmlinuz", 5000);
  ExpectFailure(absl::StatusCode::kDataLoss, "kernel file vmlinuz");
}

TEST_F(SigningTest, FlippedHashFileByte) {
  FlipByte(img_ + "/rootfs.verity", 4096 + 10);
  ExpectFailure(absl::StatusCode::kDataLoss, "verity hash file rootfs.verity");
}

TEST_F(SigningTest, FlippedRootfsByteFoundByFullCheckOnly) {
  FlipByte(img_ + "/rootfs.img", 17 * 4096 + 3);
  EXPECT_TRUE(Verify(false).ok()) << "the quick check reads only the small files";
  ExpectFailure(absl::StatusCode::kDataLoss, "data block 17", /*full=*/true);
}

TEST_F(SigningTest, MissingFile) {
  unlink((img_ + "/initramfs.cpio").c_str());
  ExpectFailure(absl::StatusCode::kNotFound, "initramfs file initramfs.cpio is missing");
}

TEST_F(SigningTest, EndlessManifestOrSignatureIsRefusedAtItsBound) {
  std::string sig = img_ + "/" + kSignatureFile, manifest = img_ + "/" + kManifestFile;
  ASSERT_EQ(unlink(sig.c_str()), 0);
  ASSERT_EQ(symlink("/dev/zero", sig.c_str()), 0);
  ExpectFailure(absl::StatusCode::kOutOfRange, "manifest.sig is over 1048576 bytes");
  ASSERT_EQ(unlink(manifest.c_str()), 0);
  ASSERT_EQ(symlink("/dev/zero", manifest.c_str()), 0);
  ExpectFailure(absl::StatusCode::kOutOfRange, "manifest.json is over 1048576 bytes");
}

TEST(ManifestTest, RejectsMalformedManifests) {
  clawos::testing::TempDir dir;
  Manifest m = testing::MakeFakeImage(dir.path());
  auto j = ManifestToJson(m);
  EXPECT_TRUE(ManifestFromJson(j).ok());
  auto bad = j;
  bad["kernel"]["path"] = "../../etc/passwd";
  EXPECT_FALSE(ManifestFromJson(bad).ok());
  bad = j;
  bad["verity"]["data_blocks"] = 39;
  EXPECT_NE(ManifestFromJson(bad).status().message().find("data_blocks"), std::string::npos);
  bad = j;
  bad["rootfs_format"] = "btrfs";
  EXPECT_FALSE(ManifestFromJson(bad).ok());
  bad = j;
  bad.erase("cmdline");
  EXPECT_FALSE(ManifestFromJson(bad).ok());
}

}  // namespace
}  // namespace clawos::image
