#include "identity/revocations.h"

#include <gtest/gtest.h>

#include "common/testing/temp_dir.h"
#include "identity/schema.h"

namespace clawos::identity {
namespace {

TEST(RevocationsTest, PersistAcrossReloadAndPurgeAfterRetention) {
  clawos::testing::TempDir dir;
  ManualClock clock;
  auto db = sqlite::Db::Open(dir.Sub("identity.db"), Migrations()).value();
  {
    auto r = Revocations::Load(*db, clock, absl::Hours(1)).value();
    ASSERT_TRUE(r->RevokeToken("j1", "leaked").ok());
    ASSERT_TRUE(r->RevokeSubject("agents/x", "decommissioned").ok());
    EXPECT_EQ(r->RevokeToken("", "").status().code(), absl::StatusCode::kInvalidArgument);
  }
  auto r = Revocations::Load(*db, clock, absl::Hours(1)).value();
  EXPECT_TRUE(r->IsTokenRevoked("j1"));
  EXPECT_FALSE(r->IsTokenRevoked("j2"));
  EXPECT_TRUE(r->IsSubjectRevoked("agents/x", clock.Now() - absl::Minutes(1)));
  EXPECT_FALSE(r->IsSubjectRevoked("agents/x", clock.Now() + absl::Seconds(1)));
  auto list = r->List(0, 10);
  ASSERT_EQ(list.size(), 2u);
  clock.Advance(absl::Hours(2));
  ASSERT_TRUE(r->PurgeExpired().ok());
  EXPECT_FALSE(r->IsTokenRevoked("j1")) << "no token with that jti can be alive any more";
  EXPECT_TRUE(r->IsSubjectRevoked("agents/x", clock.Now() - absl::Hours(3)));
  auto reloaded = Revocations::Load(*db, clock, absl::Hours(1)).value();
  EXPECT_EQ(reloaded->size(), 1u);
}

}  // namespace
}  // namespace clawos::identity
