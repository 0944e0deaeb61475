#include "common/sqlite/db.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

namespace clawos::sqlite {
namespace {

std::string TempDb(const std::string& name) {
  std::string p = ::testing::TempDir() + "/db_test_" + std::to_string(getpid()) + name + ".db";
  unlink(p.c_str());
  unlink((p + "-wal").c_str());
  unlink((p + "-shm").c_str());
  return p;
}

const std::vector<Migration> kV1 = {{1, "CREATE TABLE kv(k TEXT PRIMARY KEY, v BLOB NOT NULL);"}};

TEST(DbTest, OpensWalPrivateAndMigrates) {
  auto path = TempDb("a");
  auto db = Db::Open(path, kV1);
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ((*db)->SchemaVersion(), 1);
  auto mode = (*db)->Prepare("PRAGMA journal_mode");
  ASSERT_TRUE(mode->Step().value());
  EXPECT_EQ(mode->Text(0), "wal");
  struct stat st {};
  stat(path.c_str(), &st);
  EXPECT_EQ(st.st_mode & 077, 0u);
}

TEST(DbTest, MigrationsApplyOnlyNewSteps) {
  auto path = TempDb("b");
  {
    auto db = Db::Open(path, kV1).value();
    ASSERT_TRUE(db->Exec("INSERT INTO kv VALUES('a', x'01')").ok());
  }
  auto v2 = kV1;
  v2.push_back({2, "ALTER TABLE kv ADD COLUMN n INTEGER NOT NULL DEFAULT 7;"});
  auto db = Db::Open(path, v2).value();
  EXPECT_EQ(db->SchemaVersion(), 2);
  auto st = db->Prepare("SELECT n FROM kv WHERE k = ?").value();
  st.Bind(1, "a");
  ASSERT_TRUE(st.Step().value());
  EXPECT_EQ(st.Int(0), 7);
}

TEST(DbTest, RefusesNewerSchemaAndBrokenMigration) {
  auto path = TempDb("c");
  auto v2 = kV1;
  v2.push_back({2, "CREATE TABLE t2(x);"});
  ASSERT_TRUE(Db::Open(path, v2).ok());
  auto old = Db::Open(path, kV1);
  EXPECT_EQ(old.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(old.status().message().find("newer"), std::string::npos);

  auto path2 = TempDb("d");
  auto broken = kV1;
  broken.push_back({2, "CREATE TABLE kv(x);"});  // already exists
  EXPECT_FALSE(Db::Open(path2, broken).ok());
  // The failed step rolled back: version stays 1.
  EXPECT_EQ(Db::Open(path2, kV1).value()->SchemaVersion(), 1);
}

TEST(DbTest, TransactionRollsBackUnlessCommitted) {
  auto db = Db::Open(TempDb("e"), kV1).value();
  {
    auto tx = Transaction::Begin(*db).value();
    ASSERT_TRUE(db->Exec("INSERT INTO kv VALUES('x', x'00')").ok());
  }
  {
    auto tx = Transaction::Begin(*db).value();
    ASSERT_TRUE(db->Exec("INSERT INTO kv VALUES('y', x'00')").ok());
    ASSERT_TRUE(tx->Commit().ok());
  }
  auto st = db->Prepare("SELECT group_concat(k) FROM kv").value();
  ASSERT_TRUE(st.Step().value());
  EXPECT_EQ(st.Text(0), "y");
}

TEST(DbTest, ConstraintViolationIsAlreadyExists) {
  auto db = Db::Open(TempDb("f"), kV1).value();
  ASSERT_TRUE(db->Exec("INSERT INTO kv VALUES('x', x'00')").ok());
  auto st = db->Prepare("INSERT INTO kv VALUES(?, ?)").value();
  std::vector<uint8_t> blob = {1};
  st.Bind(1, "x").BindBlob(2, blob);
  EXPECT_EQ(st.Run().code(), absl::StatusCode::kAlreadyExists);
}

TEST(DbTest, GarbageFileIsRefusedNotOverwritten) {
  auto path = TempDb("g");
  FILE* f = fopen(path.c_str(), "w");
  fputs("this is not a database, it is a text file of some length......................", f);
  fclose(f);
  auto db = Db::Open(path, kV1);
  EXPECT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), absl::StatusCode::kDataLoss) << db.status();
}

}  // namespace
}  // namespace clawos::sqlite
