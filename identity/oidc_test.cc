#include "identity/oidc.h"

#include <gtest/gtest.h>

#include "common/files.h"
#include "common/testing/temp_dir.h"
#include "identity/testing/external_idp.h"

namespace clawos::identity {
namespace {

using nlohmann::json;
using testing::IdpKey;

constexpr char kIss[] = "https://idp.example.com";

class OidcTest : public ::testing::TestWithParam<const char*> {
 protected:
  OidcTest() : key_(GetParam(), "k1"), other_(GetParam(), "k1") {
    json jwks = {{"keys", json::array({key_.Jwk()})}};
    EXPECT_TRUE(WriteFileAtomic(dir_.Sub("jwks.json"), jwks.dump(), 0600).ok());
    json cfg = {{"operator_audience", "clawos-controlplane"},
                {"providers", json::array({{{"issuer", kIss},
                                            {"audience", "clawos"},
                                            {"jwks_file", "jwks.json"},
                                            {"subject_claim", "email"}}})}};
    EXPECT_TRUE(WriteFileAtomic(dir_.Sub("oidc.json"), cfg.dump(), 0600).ok());
    auto loaded = LoadOidcConfig(dir_.Sub("oidc.json"));
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    verifier_ = std::make_unique<OidcVerifier>(std::move(*loaded), clock_, absl::Seconds(30));
  }
  json Claims() const {
    int64_t now = absl::ToUnixSeconds(clock_.Now());
    return {{"iss", kIss}, {"aud", "clawos"}, {"sub", "123"}, {"email", "ops@example.com"},
            {"iat", now},  {"exp", now + 300}};
  }
  clawos::testing::TempDir dir_;
  ManualClock clock_;
  IdpKey key_;
  IdpKey other_;
  std::unique_ptr<OidcVerifier> verifier_;
};

TEST_P(OidcTest, AcceptsAValidIdToken) {
  auto who = verifier_->Verify(key_.Sign({}, Claims()));
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(who->subject, "oidc:ops@example.com") << "prefixed: never an agents/ subject";
  EXPECT_EQ(who->issuer, kIss);
}

TEST_P(OidcTest, RejectsForgeries) {
  EXPECT_FALSE(verifier_->Verify(other_.Sign({}, Claims())).ok()) << "signed by another key";
  json c = Claims();
  c["aud"] = "someone-else";
  EXPECT_FALSE(verifier_->Verify(key_.Sign({}, c)).ok());
  c = Claims();
  c["iss"] = "https://evil.example.com";
  EXPECT_FALSE(verifier_->Verify(key_.Sign({}, c)).ok());
  c = Claims();
  c["exp"] = absl::ToUnixSeconds(clock_.Now()) - 60;
  EXPECT_FALSE(verifier_->Verify(key_.Sign({}, c)).ok());
  c = Claims();
  c["exp"] = 1.5e300;  // not an integer NumericDate
  EXPECT_FALSE(verifier_->Verify(key_.Sign({}, c)).ok());
  c = Claims();
  c["nbf"] = absl::ToUnixSeconds(clock_.Now()) + 3600;
  EXPECT_FALSE(verifier_->Verify(key_.Sign({}, c)).ok());
  c = Claims();
  c.erase("email");
  EXPECT_FALSE(verifier_->Verify(key_.Sign({}, c)).ok());
  EXPECT_FALSE(verifier_->Verify(key_.Sign({{"kid", "unknown"}}, Claims())).ok());
}

TEST_P(OidcTest, AlgorithmComesFromTheKeyNotTheToken) {
  for (const char* alg : {"none", "HS256", "RS256", "ES256", "EdDSA"}) {
    if (std::string(alg) == GetParam()) continue;
    auto r = verifier_->Verify(key_.Sign({{"alg", alg}}, Claims()));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated) << alg;
  }
}

INSTANTIATE_TEST_SUITE_P(Algorithms, OidcTest, ::testing::Values("RS256", "ES256", "EdDSA"));

TEST(OidcConfigTest, ClearErrors) {
  clawos::testing::TempDir dir;
  EXPECT_EQ(LoadOidcConfig(dir.Sub("missing.json")).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(
      WriteFileAtomic(dir.Sub("bad.json"), "{\"providers\": [{\"issuer\": \"x\"}]}", 0600).ok());
  EXPECT_EQ(LoadOidcConfig(dir.Sub("bad.json")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ParseJwks(R"({"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]})").ok()) << "tiny RSA";
  EXPECT_FALSE(ParseJwks(R"({"keys":[{"kty":"oct","k":"AAAA"}]})").ok()) << "symmetric key";
}

TEST(OidcConfigTest, NoProvidersIsFailedPrecondition) {
  ManualClock clock;
  OidcVerifier v({}, clock, absl::Seconds(30));
  EXPECT_EQ(v.Verify("a.b.c").status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace clawos::identity
