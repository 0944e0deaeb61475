// SQLite with the project's defaults: WAL, synchronous=FULL, busy timeout,
// foreign keys, versioned migrations, prepared statements, transactions.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace clawos::sqlite {

// One schema step; versions start at 1 and increase by one.
struct Migration {
  int version;
  std::string sql;
};

class Statement;

class Db {
 public:
  // Opens (creating if absent) the database file with mode 0600 and applies
  // `migrations` newer than the file's PRAGMA user_version, each in its own
  // transaction. A file at a version newer than any known migration is refused.
  static absl::StatusOr<std::unique_ptr<Db>> Open(const std::string& path,
                                                  const std::vector<Migration>& migrations);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  absl::Status Exec(std::string_view sql);
  absl::StatusOr<Statement> Prepare(std::string_view sql);
  int SchemaVersion();
  int64_t Changes() const { return sqlite3_changes64(db_); }
  const std::string& path() const { return path_; }
  sqlite3* raw() { return db_; }
  // Serialises writers of this process; held by Transaction.
  std::recursive_mutex& mutex() { return mu_; }

  absl::Status Error(std::string_view context) const;

 private:
  Db(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  absl::Status Migrate(const std::vector<Migration>& migrations);

  sqlite3* db_;
  std::string path_;
  std::recursive_mutex mu_;
};

class Statement {
 public:
  Statement(Statement&& o) noexcept : db_(o.db_), stmt_(o.stmt_) { o.stmt_ = nullptr; }
  ~Statement();
  Statement(const Statement&) = delete;

  // Parameters are 1-based, as in SQLite.
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, std::string_view text);
  Statement& BindBlob(int index, std::span<const uint8_t> blob);
  Statement& BindNull(int index);

  // Advances; true while a row is available.
  absl::StatusOr<bool> Step();
  // Runs to completion, ignoring rows.
  absl::Status Run();
  void Reset();

  int64_t Int(int col) const;
  std::string Text(int col) const;
  std::vector<uint8_t> Blob(int col) const;
  bool IsNull(int col) const;

 private:
  friend class Db;
  Statement(Db* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Db* db_;
  sqlite3_stmt* stmt_;
  absl::Status bind_error_;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back if destroyed without Commit().
class Transaction {
 public:
  static absl::StatusOr<std::unique_ptr<Transaction>> Begin(Db& db);
  ~Transaction();
  absl::Status Commit();

 private:
  explicit Transaction(Db& db) : db_(db), lock_(db.mutex()) {}
  Db& db_;
  std::unique_lock<std::recursive_mutex> lock_;
  bool done_ = false;
};

}  // namespace clawos::sqlite
