// RemoteVerifier against the real identity core (IdentityManager in a temp dir):
// tokens it issues verify; the wrong audience, an expired token, a revoked jti
// or subject, an unknown kid and garbage are refused with the reason; a
// rotated key is picked up on first sight of its kid.
#include "identity/remote_verifier.h"

#include <gtest/gtest.h>

#include "common/crypto/encoding.h"
#include "common/testing/temp_dir.h"
#include "identity/identity_manager.h"
#include "identity/testing/key_source.h"

namespace clawos::identity {
namespace {

using testing::ManagerSource;

class AgentAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    IdentityConfig c;
    c.state_dir = dir_.Sub("identity");
    c.master_key.hex = std::string(64, 'a');
    manager_ = IdentityManager::Open(c, clock_).value();
    auto src = std::make_unique<ManagerSource>(*manager_);
    source_ = src.get();
    auth_ = std::make_unique<RemoteVerifier>(std::move(src), VerifierConfig{"clawos-identity"},
                                             "clawos-inference-proxy", clock_);
    Issue("agents/warm-up");  // the identity core makes its first key on first use
    ASSERT_TRUE(auth_->Refresh().ok());
  }
  std::string Issue(const std::string& sub, const std::string& aud = "clawos-inference-proxy") {
    IssueRequest r;
    r.subject = sub;
    r.audience = aud;
    r.ttl = absl::Minutes(10);
    return manager_->Issue(r).value().token;
  }
  clawos::testing::TempDir dir_;
  ManualClock clock_{absl::Now()};
  std::unique_ptr<IdentityManager> manager_;
  ManagerSource* source_ = nullptr;
  std::unique_ptr<RemoteVerifier> auth_;
};

TEST_F(AgentAuthTest, AcceptsItsAgentsAndRefusesTheRest) {
  auto ok = auth_->Verify(Issue("agents/a1"));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->subject, "agents/a1");

  auto other = auth_->Verify(Issue("agents/a1", "clawos-controlplane"));
  EXPECT_EQ(other.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(auth_->Verify("").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(auth_->Verify("not.a.jwt").status().code(), absl::StatusCode::kUnauthenticated);

  std::string t = Issue("agents/a2");
  ASSERT_TRUE(auth_->Verify(t).ok());  // remembered as verified...
  clock_.Advance(absl::Minutes(11));   // ...which does not outlive its expiry
  auto expired = auth_->Verify(t);
  EXPECT_EQ(expired.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(expired.status().message().find("expired"), std::string::npos) << expired.status();
}

TEST_F(AgentAuthTest, RevocationsApplyAfterARefresh) {
  std::string t = Issue("agents/r1");
  auto claims = auth_->Verify(t).value();
  ASSERT_TRUE(manager_->revocations().RevokeToken(claims.jti, "test").ok());
  EXPECT_TRUE(auth_->Verify(t).ok()) << "local until the next refresh";
  ASSERT_TRUE(auth_->Refresh().ok());
  EXPECT_EQ(auth_->Verify(t).status().code(), absl::StatusCode::kUnauthenticated);

  std::string s = Issue("agents/r2");
  ASSERT_TRUE(auth_->Verify(s).ok());
  clock_.Advance(absl::Seconds(2));
  ASSERT_TRUE(manager_->revocations().RevokeSubject("agents/r2", "deleted").ok());
  ASSERT_TRUE(auth_->Refresh().ok());
  EXPECT_EQ(auth_->Verify(s).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(AgentAuthTest, UnknownKidRefetchesKeysOnce) {
  ASSERT_TRUE(manager_->signing_keys().Rotate().ok());
  clock_.Advance(absl::Seconds(2));
  int before = source_->key_fetches;
  auto ok = auth_->Verify(Issue("agents/k1"));  // signed by the new key
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(source_->key_fetches, before + 1);
  // A forged kid does not make every request refetch.
  std::string bad = Issue("agents/k2");
  std::string header =
      crypto::Base64UrlEncode(std::string(R"({"alg":"EdDSA","typ":"JWT","kid":"nope"})"));
  bad = header + bad.substr(bad.find('.'));
  EXPECT_FALSE(auth_->Verify(bad).ok());
  EXPECT_FALSE(auth_->Verify(bad).ok());
  EXPECT_LE(source_->key_fetches, before + 2);
}

}  // namespace
}  // namespace clawos::identity
