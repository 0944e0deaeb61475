#include "identity/jws.h"

#include <gtest/gtest.h>

#include "common/crypto/encoding.h"

namespace clawos::identity {
namespace {

using crypto::Base64UrlEncode;

std::string B64(const std::string& s) { return Base64UrlEncode(std::string_view(s)); }

TEST(JwsTest, ParsesThreeParts) {
  std::string t = B64(R"({"alg":"EdDSA"})") + "." + B64(R"({"sub":"a"})") + "." + B64("sig");
  auto p = ParseJws(t);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->header["alg"], "EdDSA");
  EXPECT_EQ(p->payload["sub"], "a");
  EXPECT_EQ(p->signing_input, t.substr(0, t.rfind('.')));
  EXPECT_EQ(crypto::AsString(p->signature), "sig");
}

TEST(JwsTest, RejectsMalformed) {
  std::string h = B64(R"({"alg":"EdDSA"})"), p = B64("{}"), s = B64("sig");
  const std::string bad[] = {
      "",
      h + "." + p,                       // two parts
      h + "." + p + "." + s + "." + s,   // four parts
      "." + p + "." + s,                 // empty header
      h + ".." + s,                      // empty payload
      h + "." + p + ".",                 // empty signature (alg none style)
      h + "." + p + "." + s + "=",       // padding
      "e30." + p + "." + s + "*",        // bad character
      B64("[1]") + "." + p + "." + s,    // header not an object
      B64("{") + "." + p + "." + s,      // header not JSON
      h + "." + B64("\"x\"") + "." + s,  // payload not an object
  };
  for (const auto& t : bad) {
    auto r = ParseJws(t);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated) << "accepted: " << t;
  }
}

TEST(JwsTest, SizeLimit) {
  std::string big = B64(R"({"alg":"EdDSA"})") + "." + B64(std::string(9000, 'a')) + "." + B64("s");
  auto r = ParseJws(big);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("limit"), std::string::npos);
}

}  // namespace
}  // namespace clawos::identity
