#include "common/crypto/ed25519.h"

#include <gtest/gtest.h>

#include "common/crypto/encoding.h"

namespace clawos::crypto {
namespace {

struct Vector {
  const char* secret;
  const char* pub;
  const char* message;
  const char* signature;
};

// RFC 8032 §7.1, TEST 1, 2, 3 and SHA(abc).
const Vector kRfc8032[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e3970"
     "1cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613"
     "d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760"
     "984dc6594a7c15e9716ed28dc027beceea1ec40a"},
    {"833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
     "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23"
     "a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c6"
     "6431e0303dca179c138ac17ad9bef1177331a704"},
};

std::vector<uint8_t> Hex(const char* s) { return HexDecode(s).value(); }

class Rfc8032Test : public ::testing::TestWithParam<Vector> {};

TEST_P(Rfc8032Test, DerivesPublicKeySignsAndVerifies) {
  const Vector& v = GetParam();
  auto key = Ed25519PrivateKey::FromSeed(Hex(v.secret));
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(HexEncode(key->public_key()), v.pub);
  auto msg = Hex(v.message);
  auto sig = key->Sign(msg);
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(HexEncode(*sig), v.signature);
  EXPECT_TRUE(Ed25519Verify(Hex(v.pub), msg, Hex(v.signature)));
}

TEST_P(Rfc8032Test, RejectsAnyFlippedBit) {
  const Vector& v = GetParam();
  auto pub = Hex(v.pub);
  auto msg = Hex(v.message);
  auto sig = Hex(v.signature);
  for (size_t i = 0; i < sig.size(); i += 7) {
    auto bad = sig;
    bad[i] ^= 0x01;
    EXPECT_FALSE(Ed25519Verify(pub, msg, bad)) << "signature byte " << i;
  }
  auto bad_msg = msg;
  bad_msg.push_back(0);
  EXPECT_FALSE(Ed25519Verify(pub, bad_msg, sig));
  auto bad_pub = pub;
  bad_pub[0] ^= 0x80;
  EXPECT_FALSE(Ed25519Verify(bad_pub, msg, sig));
}

INSTANTIATE_TEST_SUITE_P(Vectors, Rfc8032Test, ::testing::ValuesIn(kRfc8032));

TEST(Ed25519Test, GeneratedKeysRoundTripThroughSeed) {
  auto a = Ed25519PrivateKey::Generate();
  ASSERT_TRUE(a.ok());
  auto seed = a->Seed();
  auto b = Ed25519PrivateKey::FromSeed(seed.span());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->public_key(), b->public_key());
  auto c = Ed25519PrivateKey::Generate();
  EXPECT_NE(a->public_key(), c->public_key());
}

TEST(Ed25519Test, RejectsWrongSizes) {
  EXPECT_FALSE(Ed25519PrivateKey::FromSeed(std::vector<uint8_t>(31)).ok());
  std::vector<uint8_t> pub(32), sig(63), msg;
  EXPECT_FALSE(Ed25519Verify(pub, msg, sig));
}

}  // namespace
}  // namespace clawos::crypto
