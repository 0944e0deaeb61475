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

// The provider every test uses: the subject is the verified email; ops@ is
// an admin by email.
json Provider() {
  return {{"issuer", kIss},
          {"audience", "clawos"},
          {"jwks_file", "jwks.json"},
          {"subject_claim", "email"},
          {"roles", json::array({{{"email", "Ops@Example.com"}, {"role", "admin"}}})}};
}

class OidcTest : public ::testing::TestWithParam<const char*> {
 protected:
  OidcTest() : key_(GetParam(), "k1"), other_(GetParam(), "k1") {
    json jwks = {{"keys", json::array({key_.Jwk()})}};
    EXPECT_TRUE(WriteFileAtomic(dir_.Sub("jwks.json"), jwks.dump(), 0600).ok());
    verifier_ = Load(Provider());
  }
  std::unique_ptr<OidcVerifier> Load(const json& provider) {
    json cfg = {{"operator_audience", "clawos-controlplane"},
                {"providers", json::array({provider})}};
    EXPECT_TRUE(WriteFileAtomic(dir_.Sub("oidc.json"), cfg.dump(), 0600).ok());
    auto loaded = LoadOidcConfig(dir_.Sub("oidc.json"));
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    if (!loaded.ok()) return nullptr;
    return std::make_unique<OidcVerifier>(std::move(*loaded), clock_, absl::Seconds(30));
  }
  json Claims() const {
    int64_t now = absl::ToUnixSeconds(clock_.Now());
    return {{"iss", kIss},
            {"aud", "clawos"},
            {"sub", "123"},
            {"email", "ops@example.com"},
            {"email_verified", true},
            {"iat", now},
            {"exp", now + 300}};
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
  EXPECT_EQ(who->role, "admin") << "the email rule matches whatever its case";
}

// The email is trusted only with "email_verified": true (the JSON boolean).
TEST_P(OidcTest, AnEmailCountsOnlyWhenVerified) {
  json c = Claims();
  c.erase("email_verified");
  auto r = verifier_->Verify(key_.Sign({}, c));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated) << "email is the subject";
  EXPECT_NE(r.status().message().find("email_verified"), std::string::npos) << r.status();
  for (json v : {json(false), json("true"), json(1)}) {
    c["email_verified"] = v;
    EXPECT_FALSE(verifier_->Verify(key_.Sign({}, c)).ok()) << v.dump();
  }
  // With "sub" as the subject, an unverified email is not an error, but it
  // earns no role by an email rule.
  json p = Provider();
  p.erase("subject_claim");
  auto by_sub = Load(p);
  ASSERT_TRUE(by_sub);
  c["email_verified"] = false;
  r = by_sub->Verify(key_.Sign({}, c));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << r.status();
  c["email_verified"] = true;
  r = by_sub->Verify(key_.Sign({}, c));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->subject, "oidc:123");
  EXPECT_EQ(r->role, "admin");
}

// A "subject" rule names the IdP's "sub", whatever the subject claim is.
TEST_P(OidcTest, AnAllowListedSubjectGetsItsRole) {
  json p = Provider();
  p["subject_claim"] = "sub";
  p["roles"] = json::array({{{"subject", "123"}, {"role", "viewer"}}});
  auto v = Load(p);
  ASSERT_TRUE(v);
  auto r = v->Verify(key_.Sign({}, Claims()));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->role, "viewer");
  json c = Claims();
  c["sub"] = "1234";
  EXPECT_EQ(v->Verify(key_.Sign({}, c)).status().code(), absl::StatusCode::kPermissionDenied)
      << "exact match only";
}

TEST_P(OidcTest, GroupsMapToRolesAndTheMostPrivilegedWins) {
  json p = Provider();
  p["subject_claim"] = "sub";
  p["groups_claim"] = "roles";
  p["roles"] = json::array({{{"group", "clawos-viewers"}, {"role", "viewer"}},
                            {{"group", "clawos-admins"}, {"role", "admin"}}});
  auto v = Load(p);
  ASSERT_TRUE(v);
  json c = Claims();
  c["roles"] = json::array({"staff", "clawos-viewers"});
  auto r = v->Verify(key_.Sign({}, c));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->role, "viewer");
  c["roles"] = json::array({"clawos-viewers", 7, nullptr, "clawos-admins"});
  r = v->Verify(key_.Sign({}, c));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->role, "admin");
  c["roles"] = "clawos-admins";  // a single group as a string
  EXPECT_EQ(v->Verify(key_.Sign({}, c)).value().role, "admin");
  c["groups"] = json::array({"clawos-admins"});  // not the configured claim
  c["roles"] = json::object({{"clawos-admins", true}});
  EXPECT_EQ(v->Verify(key_.Sign({}, c)).status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_P(OidcTest, NoMappingMeansNoRole) {
  json p = Provider();
  p.erase("roles");
  auto v = Load(p);
  ASSERT_TRUE(v);
  auto r = v->Verify(key_.Sign({}, Claims()));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(r.status().message().find("no ClawOS role"), std::string::npos) << r.status();
  // Someone else of the same issuer, with the admin's rule in place.
  json c = Claims();
  c["email"] = "intruder@example.com";
  EXPECT_EQ(verifier_->Verify(key_.Sign({}, c)).status().code(),
            absl::StatusCode::kPermissionDenied);
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
  ASSERT_TRUE(
      WriteFileAtomic(dir.Sub("typed.json"), R"({"providers": [{"issuer": 7}]})", 0600).ok());
  EXPECT_EQ(LoadOidcConfig(dir.Sub("typed.json")).status().code(),
            absl::StatusCode::kInvalidArgument)
      << "a number where a string belongs is an error, not an exception";
}

TEST(OidcConfigTest, RoleRulesAreChecked) {
  auto parse = [](const std::string& rules) {
    return ParseRoleMapping(nlohmann::json::parse(R"({"roles": )" + rules + "}"), "p");
  };
  EXPECT_TRUE(parse(R"([{"email": "a@b.c", "role": "viewer"}])").ok());
  EXPECT_TRUE(parse("[]").ok());
  for (const char* bad : {
           R"({"email": "a@b.c"})",                                   // not an array
           R"([{"email": "a@b.c"}])",                                 // no role
           R"([{"email": "a@b.c", "role": "agent"}])",                // not an operator role
           R"([{"role": "admin"}])",                                  // matches nothing
           R"([{"email": "a@b.c", "group": "g", "role": "admin"}])",  // two things at once
           R"([{"group": 5, "role": "admin"}])",
           R"([{"group": "", "role": "admin"}])",
           R"([{"group": "g", "role": "admin", "domain": "b.c"}])",  // unknown key
           R"(["admin"])",
       }) {
    auto m = parse(bad);
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  auto m = parse(R"([{"group": "g", "role": "admin"}])");
  std::string email;
  EXPECT_FALSE(VerifiedEmail(nlohmann::json::parse(R"({"email": "x@y", "email_verified": "true"})"),
                             &email));
  EXPECT_TRUE(
      VerifiedEmail(nlohmann::json::parse(R"({"email": "X@Y", "email_verified": true})"), &email));
  EXPECT_EQ(email, "x@y");
  EXPECT_EQ(MapRole(*m, nlohmann::json::parse(R"({"groups": ["g"]})")), "admin");
  EXPECT_EQ(MapRole(*m, nlohmann::json::parse(R"({"groups": [["g"]]})")), std::nullopt);
  EXPECT_EQ(MapRole({}, nlohmann::json::parse(R"({"groups": ["g"], "sub": "x"})")), std::nullopt);
}

TEST(OidcConfigTest, NoProvidersIsFailedPrecondition) {
  ManualClock clock;
  OidcVerifier v({}, clock, absl::Seconds(30));
  EXPECT_EQ(v.Verify("a.b.c").status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace clawos::identity
