#include "identity/signing_keys.h"

#include <gtest/gtest.h>

#include "common/crypto/encoding.h"
#include "common/crypto/jwk.h"
#include "common/testing/temp_dir.h"
#include "identity/schema.h"

namespace clawos::identity {
namespace {

class SigningKeysTest : public ::testing::Test {
 protected:
  SigningKeysTest() {
    db_ = sqlite::Db::Open(dir_.Sub("identity.db"), Migrations()).value();
    sealer_ = LoadMasterKey({"", dir_.Sub("master.key")}, *db_).value();
  }
  std::unique_ptr<SigningKeys> Load(absl::Duration max_ttl = absl::Hours(1)) {
    return SigningKeys::Load(*db_, *sealer_, clock_, max_ttl, absl::Seconds(30)).value();
  }
  clawos::testing::TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<sqlite::Db> db_;
  std::unique_ptr<Sealer> sealer_;
};

TEST_F(SigningKeysTest, FirstLoadMakesAKeyAndReloadKeepsIt) {
  std::string kid = Load()->current().kid;
  EXPECT_FALSE(kid.empty());
  EXPECT_EQ(Load()->current().kid, kid);
}

TEST_F(SigningKeysTest, KidIsTheRfc7638Thumbprint) {
  // RFC 8037 Appendix A.3: the thumbprint of the A.1 public key.
  auto pub = crypto::Base64UrlDecode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").value();
  crypto::Ed25519PublicKey key{};
  std::copy(pub.begin(), pub.end(), key.begin());
  EXPECT_EQ(crypto::Ed25519Thumbprint(key), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
}

TEST_F(SigningKeysTest, RotationKeepsRetiredKeyUntilItsTokensExpire) {
  auto keys = Load(absl::Hours(1));
  std::string old_kid = keys->current().kid;
  auto rotated = keys->Rotate();
  ASSERT_TRUE(rotated.ok());
  EXPECT_NE(keys->current().kid, old_kid);
  EXPECT_TRUE(keys->Find(old_kid).has_value()) << "tokens signed by the old key are still alive";
  EXPECT_EQ(keys->Jwks()["keys"].size(), 2u);
  clock_.Advance(absl::Hours(1));
  ASSERT_TRUE(keys->PurgeExpired().ok());
  EXPECT_TRUE(keys->Find(old_kid).has_value()) << "leeway not yet over";
  clock_.Advance(absl::Seconds(31));
  ASSERT_TRUE(keys->PurgeExpired().ok());
  EXPECT_FALSE(keys->Find(old_kid).has_value());
  EXPECT_EQ(keys->Jwks()["keys"].size(), 1u);
  EXPECT_EQ(Load()->List().size(), 1u) << "purge is persisted";
}

TEST_F(SigningKeysTest, RetiredPrivateKeyIsErased) {
  auto keys = Load();
  std::string old_kid = keys->current().kid;
  ASSERT_TRUE(keys->Rotate().ok());
  auto st = db_->Prepare("SELECT length(sealed_private) FROM signing_keys WHERE kid = ?").value();
  st.Bind(1, old_kid);
  ASSERT_TRUE(st.Step().value());
  EXPECT_EQ(st.Int(0), 0);
}

TEST_F(SigningKeysTest, ScheduledRotationWhenDue) {
  auto keys = Load();
  std::string kid = keys->current().kid;
  EXPECT_FALSE(keys->RotateIfDue(absl::Hours(24)).value());
  EXPECT_FALSE(keys->RotateIfDue(absl::ZeroDuration()).value());
  clock_.Advance(absl::Hours(25));
  EXPECT_TRUE(keys->RotateIfDue(absl::Hours(24)).value());
  EXPECT_NE(keys->current().kid, kid);
}

TEST_F(SigningKeysTest, RaisingMaxTtlExtendsRetention) {
  std::string old_kid = Load(absl::Hours(1))->current().kid;
  auto keys = Load(absl::Hours(10));  // restarted with a longer --max-ttl
  ASSERT_TRUE(keys->Rotate().ok());
  clock_.Advance(absl::Hours(2));
  ASSERT_TRUE(keys->PurgeExpired().ok());
  EXPECT_TRUE(keys->Find(old_kid).has_value()) << "it may have signed 10h tokens";
}

}  // namespace
}  // namespace clawos::identity
