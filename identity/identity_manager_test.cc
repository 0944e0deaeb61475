#include "identity/identity_manager.h"

#include <gtest/gtest.h>

#include "common/crypto/encoding.h"
#include "common/testing/temp_dir.h"

namespace clawos::identity {
namespace {

class IdentityManagerTest : public ::testing::Test {
 protected:
  std::unique_ptr<IdentityManager> Open() {
    IdentityConfig c;
    c.state_dir = dir_.Sub("state");
    c.issuer.max_ttl = absl::Hours(1);
    auto m = IdentityManager::Open(c, clock_);
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? std::move(*m) : nullptr;
  }
  clawos::testing::TempDir dir_;
  ManualClock clock_;
};

TEST_F(IdentityManagerTest, IssueVerifyRoundTripAndTtlBound) {
  auto m = Open();
  auto t = m->Issue({"agents/a", "clawos-inference-proxy", absl::Minutes(5)});
  ASSERT_TRUE(t.ok()) << t.status();
  auto c = m->Verify(t->token, "clawos-inference-proxy");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->subject, "agents/a");
  EXPECT_EQ(m->Verify(t->token, "other").status().code(), absl::StatusCode::kUnauthenticated);
  auto too_long = m->Issue({"agents/a", "x", absl::Hours(2)});
  EXPECT_EQ(too_long.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_long.status().message().find("--max-ttl"), std::string::npos);
}

TEST_F(IdentityManagerTest, RestartKeepsKeysRevocationsAndSecrets) {
  std::string token, revoked;
  {
    auto m = Open();
    token = m->Issue({"agents/a", "aud", absl::Minutes(5)})->token;
    auto r = m->Issue({"agents/b", "aud", absl::Minutes(5)}).value();
    revoked = r.token;
    ASSERT_TRUE(m->revocations().RevokeToken(r.claims.jti, "test").ok());
    ASSERT_TRUE(m->secrets().Create("openai", crypto::AsBytes("sk-1")).ok());
  }
  auto m = Open();
  EXPECT_TRUE(m->Verify(token, "aud").ok()) << "same signing key after restart";
  EXPECT_FALSE(m->Verify(revoked, "aud").ok());
  EXPECT_EQ(crypto::AsString(m->secrets().Access("openai").value().span()), "sk-1");
}

TEST_F(IdentityManagerTest, TokensSurviveKeyRotation) {
  auto m = Open();
  auto t = m->Issue({"agents/a", "aud", absl::Minutes(30)}).value();
  ASSERT_TRUE(m->signing_keys().Rotate().ok());
  EXPECT_TRUE(m->Verify(t.token, "aud").ok());
  auto t2 = m->Issue({"agents/a", "aud", absl::Minutes(30)}).value();
  EXPECT_NE(t2.claims.kid, t.claims.kid);
  clock_.Advance(absl::Minutes(31));
  EXPECT_FALSE(m->Verify(t.token, "aud").ok());
}

TEST_F(IdentityManagerTest, RejectsBadConfig) {
  IdentityConfig c;
  c.state_dir = dir_.Sub("s");
  c.issuer.default_ttl = absl::Hours(48);
  EXPECT_EQ(IdentityManager::Open(c, clock_).status().code(), absl::StatusCode::kInvalidArgument);
  c = {};
  c.state_dir = dir_.Sub("s");
  c.leeway = absl::Hours(1);
  EXPECT_EQ(IdentityManager::Open(c, clock_).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(IdentityManagerTest, MasterKeyRotationFromEnvIsRefused) {
  IdentityConfig c;
  c.state_dir = dir_.Sub("env");
  c.master_key.hex = std::string(64, 'a');
  auto m = IdentityManager::Open(c, clock_).value();
  EXPECT_EQ(m->RotateMasterKey().status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace clawos::identity
