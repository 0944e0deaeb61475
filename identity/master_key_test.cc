#include "identity/master_key.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/crypto/encoding.h"
#include "common/files.h"
#include "common/testing/temp_dir.h"
#include "identity/schema.h"
#include "identity/secret_store.h"

namespace clawos::identity {
namespace {

constexpr char kKeyA[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr char kKeyB[] = "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

class MasterKeyTest : public ::testing::Test {
 protected:
  std::unique_ptr<sqlite::Db> OpenDb() {
    return sqlite::Db::Open(dir_.Sub("identity.db"), Migrations()).value();
  }
  clawos::testing::TempDir dir_;
  ManualClock clock_;
};

TEST_F(MasterKeyTest, ParsesHexStrictly) {
  EXPECT_TRUE(ParseMasterKeyHex(std::string(kKeyA) + "\n").ok());
  EXPECT_FALSE(ParseMasterKeyHex("abcd").ok());
  EXPECT_FALSE(ParseMasterKeyHex(std::string(64, 'g')).ok());
}

TEST_F(MasterKeyTest, CreatesKeyFile0600OnFreshState) {
  auto db = OpenDb();
  std::string path = dir_.Sub("master.key");
  auto sealer = LoadMasterKey({"", path}, *db);
  ASSERT_TRUE(sealer.ok()) << sealer.status();
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // The same file opens the same state again.
  EXPECT_TRUE(LoadMasterKey({"", path}, *db).ok());
}

TEST_F(MasterKeyTest, WrongKeyIsAClearErrorAndChangesNothing) {
  auto db = OpenDb();
  ASSERT_TRUE(LoadMasterKey({kKeyA, ""}, *db).ok());
  auto before = ReadFile(dir_.Sub("identity.db")).value();
  auto wrong = LoadMasterKey({kKeyB, ""}, *db);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(wrong.status().message().find("does not open"), std::string::npos) << wrong.status();
  EXPECT_TRUE(LoadMasterKey({kKeyA, ""}, *db).ok()) << "the right key still works";
}

TEST_F(MasterKeyTest, MissingKeyFileBesideSealedDataIsRefused) {
  auto db = OpenDb();
  std::string path = dir_.Sub("master.key");
  ASSERT_TRUE(LoadMasterKey({"", path}, *db).ok());
  ::unlink(path.c_str());
  auto s = LoadMasterKey({"", path}, *db);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(PathExists(path)) << "must not mint a new key over sealed data";
}

TEST_F(MasterKeyTest, GroupReadableKeyFileIsRefused) {
  auto db = OpenDb();
  std::string path = dir_.Sub("master.key");
  ASSERT_TRUE(LoadMasterKey({"", path}, *db).ok());
  chmod(path.c_str(), 0640);
  EXPECT_EQ(LoadMasterKey({"", path}, *db).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(MasterKeyTest, RotationResealsEverythingInOneTransaction) {
  auto db = OpenDb();
  std::string path = dir_.Sub("master.key");
  auto sealer = LoadMasterKey({"", path}, *db).value();
  SecretStore secrets(*db, *sealer, clock_);
  ASSERT_TRUE(secrets.Create("openai", crypto::AsBytes("sk-1")).ok());
  ASSERT_TRUE(secrets.Create("anthropic", crypto::AsBytes("sk-2")).ok());
  std::string old_key = ReadFile(path).value();

  auto n = sealer->Rotate(*db, crypto::SecretBytes(std::vector<uint8_t>(32, 5)));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 2);
  EXPECT_NE(ReadFile(path).value(), old_key);
  EXPECT_FALSE(PathExists(path + ".next"));
  EXPECT_EQ(crypto::AsString(secrets.Access("openai").value().span()), "sk-1");
  // A fresh load from the rotated file opens everything.
  auto again = LoadMasterKey({"", path}, *db).value();
  SecretStore reloaded(*db, *again, clock_);
  EXPECT_EQ(crypto::AsString(reloaded.Access("anthropic").value().span()), "sk-2");
  // The old key no longer opens the state.
  EXPECT_FALSE(LoadMasterKey({old_key, ""}, *db).ok());
}

TEST_F(MasterKeyTest, CrashAfterCommitBeforeRenameIsCompletedOnLoad) {
  auto db = OpenDb();
  std::string path = dir_.Sub("master.key");
  auto sealer = LoadMasterKey({"", path}, *db).value();
  SecretStore secrets(*db, *sealer, clock_);
  ASSERT_TRUE(secrets.Create("k", crypto::AsBytes("v")).ok());
  std::string old_key = ReadFile(path).value();
  ASSERT_TRUE(sealer->Rotate(*db, crypto::SecretBytes(std::vector<uint8_t>(32, 5))).ok());
  // Simulate the crash: new key back in ".next", the old one in place.
  ASSERT_EQ(::rename(path.c_str(), (path + ".next").c_str()), 0);
  ASSERT_TRUE(WriteFileAtomic(path, old_key, 0600).ok());
  auto recovered = LoadMasterKey({"", path}, *db);
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  EXPECT_FALSE(PathExists(path + ".next"));
  SecretStore after(*db, **recovered, clock_);
  EXPECT_EQ(crypto::AsString(after.Access("k").value().span()), "v");
}

TEST_F(MasterKeyTest, TamperedRecordFailsAuthentication) {
  auto db = OpenDb();
  auto sealer = LoadMasterKey({kKeyA, ""}, *db).value();
  SecretStore secrets(*db, *sealer, clock_);
  ASSERT_TRUE(secrets.Create("k", crypto::AsBytes("value")).ok());
  ASSERT_TRUE(db->Exec("UPDATE secrets SET sealed = substr(sealed, 1, 20) || x'00' || "
                       "substr(sealed, 22)")
                  .ok());
  auto v = secrets.Access("k");
  EXPECT_EQ(v.status().code(), absl::StatusCode::kDataLoss) << v.status();
  // A record moved under another name does not open either (AAD = name).
  ASSERT_TRUE(secrets.Create("a", crypto::AsBytes("one")).ok());
  ASSERT_TRUE(secrets.Create("b", crypto::AsBytes("two")).ok());
  ASSERT_TRUE(db->Exec("UPDATE secrets SET sealed = (SELECT sealed FROM secrets WHERE name='a') "
                       "WHERE name = 'b'")
                  .ok());
  EXPECT_FALSE(secrets.Access("b").ok());
}

}  // namespace
}  // namespace clawos::identity
