#include "identity/secret_store.h"

#include <gtest/gtest.h>

#include "common/crypto/encoding.h"
#include "common/files.h"
#include "common/testing/temp_dir.h"
#include "identity/schema.h"

namespace clawos::identity {
namespace {

class SecretStoreTest : public ::testing::Test {
 protected:
  SecretStoreTest() {
    db_ = sqlite::Db::Open(dir_.Sub("identity.db"), Migrations()).value();
    sealer_ = LoadMasterKey({"", dir_.Sub("master.key")}, *db_).value();
    store_ = std::make_unique<SecretStore>(*db_, *sealer_, clock_);
  }
  clawos::testing::TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<sqlite::Db> db_;
  std::unique_ptr<Sealer> sealer_;
  std::unique_ptr<SecretStore> store_;
};

TEST_F(SecretStoreTest, CreateAccessUpdateDelete) {
  auto c = store_->Create("openai", crypto::AsBytes("sk-abc"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->size_bytes, 6);
  EXPECT_EQ(store_->Create("openai", crypto::AsBytes("x")).status().code(),
            absl::StatusCode::kAlreadyExists);
  clock_.Advance(absl::Seconds(10));
  auto u = store_->Update("openai", crypto::AsBytes("sk-new"), false);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->create_time, c->create_time);
  EXPECT_GT(u->update_time, c->update_time);
  EXPECT_EQ(crypto::AsString(store_->Access("openai").value().span()), "sk-new");
  EXPECT_EQ(store_->Update("nope", crypto::AsBytes("x"), false).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(store_->Update("nope", crypto::AsBytes("x"), true).ok());
  ASSERT_TRUE(store_->Delete("openai").ok());
  EXPECT_EQ(store_->Access("openai").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Delete("openai").code(), absl::StatusCode::kNotFound);
}

TEST_F(SecretStoreTest, ValuesAreNotStoredInClear) {
  ASSERT_TRUE(store_->Create("k", crypto::AsBytes("PLAINTEXT-MARKER-123")).ok());
  db_->Exec("PRAGMA wal_checkpoint(FULL)").IgnoreError();
  for (const char* f : {"identity.db", "identity.db-wal"}) {
    auto bytes = ReadFile(dir_.Sub(f));
    if (bytes.ok()) {
      EXPECT_EQ(bytes->find("PLAINTEXT-MARKER-123"), std::string::npos) << f;
    }
  }
}

TEST_F(SecretStoreTest, ListPagesInNameOrder) {
  for (const char* n : {"c", "a", "b", "d"})
    ASSERT_TRUE(store_->Create(n, crypto::AsBytes("v")).ok());
  auto first = store_->List("", 2).value();
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].id, "a");
  EXPECT_EQ(first[1].id, "b");
  auto rest = store_->List("b", 10).value();
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].id, "c");
}

TEST_F(SecretStoreTest, RejectsBadIdsAndOversizedValues) {
  for (const char* bad : {"", "-x", "a/b", "a b", "../etc"}) {
    EXPECT_EQ(store_->Create(bad, crypto::AsBytes("v")).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_FALSE(store_->Create(std::string(129, 'a'), crypto::AsBytes("v")).ok());
  std::string big(kMaxSecretBytes + 1, 'x');
  EXPECT_EQ(store_->Create("big", crypto::AsBytes(big)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace clawos::identity
