#include "common/crypto/aes_gcm.h"

#include <gtest/gtest.h>

#include "common/crypto/encoding.h"

namespace clawos::crypto {
namespace {

std::vector<uint8_t> Hex(const char* s) { return HexDecode(s).value(); }

struct Vector {
  const char* key;
  const char* iv;
  const char* plaintext;
  const char* aad;
  const char* ciphertext;
  const char* tag;
};

// The GCM specification's AES-256 test cases 13-16 (McGrew & Viega), as used
// in NIST's GCM validation.
const Vector kGcm[] = {
    {"0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000",
     "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000",
     "00000000000000000000000000000000", "", "cea7403d4d606b6e074ec5d3baf39d18",
     "d0d1c8a799996bf0265b98b5d48ab919"},
    {"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e24"
     "49a6b525b16aedf5aa0de657ba637b391aafd255",
     "",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b10"
     "56828838c5f61e6393ba7a0abcc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    {"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e24"
     "49a6b525b16aedf5aa0de657ba637b39",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b10"
     "56828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

class GcmVectorTest : public ::testing::TestWithParam<Vector> {};

TEST_P(GcmVectorTest, EncryptsAndDecryptsToTheVector) {
  const Vector& v = GetParam();
  auto out = AesGcmEncrypt(Hex(v.key), Hex(v.iv), Hex(v.plaintext), Hex(v.aad));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(HexEncode(*out), std::string(v.ciphertext) + v.tag);
  auto back = AesGcmDecrypt(Hex(v.key), Hex(v.iv), *out, Hex(v.aad));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(HexEncode(back->span()), v.plaintext);
}

TEST_P(GcmVectorTest, TamperedTagOrAadFails) {
  const Vector& v = GetParam();
  auto ct = Hex((std::string(v.ciphertext) + v.tag).c_str());
  auto bad = ct;
  bad.back() ^= 1;
  EXPECT_EQ(AesGcmDecrypt(Hex(v.key), Hex(v.iv), bad, Hex(v.aad)).status().code(),
            absl::StatusCode::kPermissionDenied);
  auto aad = Hex(v.aad);
  aad.push_back(0);
  EXPECT_FALSE(AesGcmDecrypt(Hex(v.key), Hex(v.iv), ct, aad).ok());
}

INSTANTIATE_TEST_SUITE_P(Vectors, GcmVectorTest, ::testing::ValuesIn(kGcm));

TEST(AesGcmSealTest, RoundTripsWithFreshNonces) {
  std::vector<uint8_t> key(32, 7);
  auto a = AesGcmSeal(key, AsBytes("provider key"), AsBytes("secrets/openai"));
  auto b = AesGcmSeal(key, AsBytes("provider key"), AsBytes("secrets/openai"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b) << "two seals of the same value must differ (fresh nonce)";
  auto opened = AesGcmOpen(key, *a, AsBytes("secrets/openai"));
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(AsString(opened->span()), "provider key");
}

TEST(AesGcmSealTest, EveryTamperFails) {
  std::vector<uint8_t> key(32, 7);
  auto sealed = AesGcmSeal(key, AsBytes("value"), AsBytes("aad")).value();
  for (size_t i = 0; i < sealed.size(); ++i) {
    auto bad = sealed;
    bad[i] ^= 0x40;
    EXPECT_FALSE(AesGcmOpen(key, bad, AsBytes("aad")).ok()) << "byte " << i;
  }
  EXPECT_FALSE(AesGcmOpen(key, sealed, AsBytes("other")).ok()) << "AAD binds the record name";
  std::vector<uint8_t> other(32, 8);
  EXPECT_FALSE(AesGcmOpen(other, sealed, AsBytes("aad")).ok());
  sealed.resize(20);
  EXPECT_FALSE(AesGcmOpen(key, sealed, AsBytes("aad")).ok());
}

TEST(AesGcmSealTest, RejectsWrongKeySize) {
  std::vector<uint8_t> key(16);
  EXPECT_EQ(AesGcmSeal(key, AsBytes("x"), {}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace clawos::crypto
