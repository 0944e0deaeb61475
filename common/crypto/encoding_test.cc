#include "common/crypto/encoding.h"

#include <gtest/gtest.h>

#include "common/crypto/secret.h"

namespace clawos::crypto {
namespace {

TEST(Base64UrlTest, Rfc4648Vectors) {
  EXPECT_EQ(Base64UrlEncode(std::string_view("")), "");
  EXPECT_EQ(Base64UrlEncode(std::string_view("f")), "Zg");
  EXPECT_EQ(Base64UrlEncode(std::string_view("fo")), "Zm8");
  EXPECT_EQ(Base64UrlEncode(std::string_view("foo")), "Zm9v");
  EXPECT_EQ(Base64UrlEncode(std::string_view("foob")), "Zm9vYg");
  EXPECT_EQ(Base64UrlEncode(std::string_view("fooba")), "Zm9vYmE");
  EXPECT_EQ(Base64UrlEncode(std::string_view("foobar")), "Zm9vYmFy");
  const uint8_t url[] = {0xfb, 0xff, 0xbf};
  EXPECT_EQ(Base64UrlEncode(std::span<const uint8_t>(url)), "-_-_");
}

TEST(Base64UrlTest, RoundTripsAllLengths) {
  std::vector<uint8_t> data;
  for (int i = 0; i < 70; ++i) {
    auto back = Base64UrlDecode(Base64UrlEncode(data));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, data);
    data.push_back(static_cast<uint8_t>(i * 37));
  }
}

TEST(Base64UrlTest, StrictDecoding) {
  EXPECT_FALSE(Base64UrlDecode("Zg==").ok()) << "padding";
  EXPECT_FALSE(Base64UrlDecode("Zm9v+A").ok()) << "standard alphabet";
  EXPECT_FALSE(Base64UrlDecode("Zm9v/A").ok());
  EXPECT_FALSE(Base64UrlDecode("Z").ok()) << "impossible length";
  EXPECT_FALSE(Base64UrlDecode("Zh").ok()) << "non-zero trailing bits";
  EXPECT_FALSE(Base64UrlDecode("Zm 9").ok());
  EXPECT_TRUE(Base64UrlDecode("Zg").ok());
}

TEST(HexTest, RoundTripAndErrors) {
  EXPECT_EQ(HexEncode(HexDecode("00ff10AB").value()), "00ff10ab");
  EXPECT_FALSE(HexDecode("abc").ok());
  EXPECT_FALSE(HexDecode("zz").ok());
}

TEST(SecretTest, ConstantTimeEquals) {
  std::vector<uint8_t> a = {1, 2, 3}, b = {1, 2, 3}, c = {1, 2, 4}, d = {1, 2};
  EXPECT_TRUE(ConstantTimeEquals(a, b));
  EXPECT_FALSE(ConstantTimeEquals(a, c));
  EXPECT_FALSE(ConstantTimeEquals(a, d));
}

TEST(SecretTest, SecureZeroWipes) {
  std::vector<uint8_t> v = {9, 9, 9};
  SecureZero(v.data(), v.size());
  EXPECT_EQ(v, (std::vector<uint8_t>{0, 0, 0}));
  SecretBytes s(std::vector<uint8_t>{1, 2});
  SecretBytes moved = std::move(s);
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(moved.size(), 2u);
}

}  // namespace
}  // namespace clawos::crypto
