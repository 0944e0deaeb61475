#include "common/sqlite/db.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/files.h"

namespace clawos::sqlite {

namespace {

absl::StatusCode CodeFor(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::StatusCode::kUnavailable;
    case SQLITE_FULL:
    case SQLITE_NOMEM:
      return absl::StatusCode::kResourceExhausted;
    case SQLITE_CONSTRAINT:
      return absl::StatusCode::kAlreadyExists;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::StatusCode::kDataLoss;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
      return absl::StatusCode::kPermissionDenied;
    default:
      return absl::StatusCode::kInternal;
  }
}

}  // namespace

absl::Status Db::Error(std::string_view context) const {
  int rc = sqlite3_extended_errcode(db_);
  return absl::Status(
      CodeFor(rc), absl::StrCat(std::string(context), ": ", sqlite3_errmsg(db_), " (", path_, ")"));
}

absl::StatusOr<std::unique_ptr<Db>> Db::Open(const std::string& path,
                                             const std::vector<Migration>& migrations) {
  // Create the file 0600 ourselves so SQLite never makes it world-readable.
  if (!PathExists(path)) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return ErrnoStatus(errno, absl::StrCat("creating database ", path));
    ::close(fd);
  }
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  std::unique_ptr<Db> db(new Db(raw, path));
  if (rc != SQLITE_OK) return db->Error("opening database");
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, 5000);
  // journal_mode returns a row; Exec ignores it.
  for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL",
                             "PRAGMA foreign_keys=ON", "PRAGMA secure_delete=ON"}) {
    if (auto s = db->Exec(pragma); !s.ok()) return s;
  }
  auto check = db->Prepare("PRAGMA quick_check");
  if (!check.ok()) return check.status();
  auto row = check->Step();
  if (!row.ok()) return row.status();
  if (!*row || check->Text(0) != "ok") {
    return absl::DataLossError(absl::StrCat(
        "database ", path, " failed its integrity check: ", *row ? check->Text(0) : "no result"));
  }
  if (auto s = db->Migrate(migrations); !s.ok()) return s;
  return db;
}

Db::~Db() { sqlite3_close_v2(db_); }

absl::Status Db::Exec(std::string_view sql) {
  std::string owned(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, owned.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return absl::Status(CodeFor(rc), absl::StrCat("sqlite: ", msg, " (", path_, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Statement> Db::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return Error(absl::StrCat("preparing \"", std::string(sql), "\""));
  return Statement(this, stmt);
}

int Db::SchemaVersion() {
  auto st = Prepare("PRAGMA user_version");
  if (!st.ok()) return -1;
  auto row = st->Step();
  return row.ok() && *row ? static_cast<int>(st->Int(0)) : -1;
}

absl::Status Db::Migrate(const std::vector<Migration>& migrations) {
  int current = SchemaVersion();
  int latest = migrations.empty() ? 0 : migrations.back().version;
  if (current > latest) {
    return absl::FailedPreconditionError(absl::StrCat(
        "database ", path_, " has schema version ", current, " but this binary knows only up to ",
        latest, "; refusing to open it (was it written by a newer ClawOS?)"));
  }
  for (const auto& m : migrations) {
    if (m.version <= current) continue;
    auto tx = Transaction::Begin(*this);
    if (!tx.ok()) return tx.status();
    if (auto s = Exec(m.sql); !s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat("migration to version ", m.version, ": ", s.message()));
    }
    if (auto s = Exec(absl::StrCat("PRAGMA user_version=", m.version)); !s.ok()) return s;
    if (auto s = (*tx)->Commit(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Statement& Statement::Bind(int index, int64_t value) {
  if (sqlite3_bind_int64(stmt_, index, value) != SQLITE_OK && bind_error_.ok()) {
    bind_error_ = db_->Error("binding");
  }
  return *this;
}

Statement& Statement::Bind(int index, std::string_view text) {
  if (sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()),
                        SQLITE_TRANSIENT) != SQLITE_OK &&
      bind_error_.ok()) {
    bind_error_ = db_->Error("binding");
  }
  return *this;
}

Statement& Statement::BindBlob(int index, std::span<const uint8_t> blob) {
  static const uint8_t kEmpty = 0;
  const void* p = blob.empty() ? &kEmpty : blob.data();
  if (sqlite3_bind_blob(stmt_, index, p, static_cast<int>(blob.size()), SQLITE_TRANSIENT) !=
          SQLITE_OK &&
      bind_error_.ok()) {
    bind_error_ = db_->Error("binding");
  }
  return *this;
}

Statement& Statement::BindNull(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

absl::StatusOr<bool> Statement::Step() {
  if (!bind_error_.ok()) return bind_error_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->Error("executing statement");
}

absl::Status Statement::Run() {
  for (;;) {
    auto row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
  }
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_error_ = absl::OkStatus();
}

int64_t Statement::Int(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string Statement::Text(int col) const {
  const unsigned char* t = sqlite3_column_text(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  return t ? std::string(reinterpret_cast<const char*>(t), static_cast<size_t>(n)) : "";
}

std::vector<uint8_t> Statement::Blob(int col) const {
  const uint8_t* b = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, col));
  int n = sqlite3_column_bytes(stmt_, col);
  return b ? std::vector<uint8_t>(b, b + n) : std::vector<uint8_t>{};
}

bool Statement::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

absl::StatusOr<std::unique_ptr<Transaction>> Transaction::Begin(Db& db) {
  std::unique_ptr<Transaction> tx(new Transaction(db));
  if (auto s = db.Exec("BEGIN IMMEDIATE"); !s.ok()) {
    tx->done_ = true;
    return s;
  }
  return tx;
}

Transaction::~Transaction() {
  if (!done_) db_.Exec("ROLLBACK").IgnoreError();
}

absl::Status Transaction::Commit() {
  done_ = true;
  auto s = db_.Exec("COMMIT");
  if (!s.ok()) db_.Exec("ROLLBACK").IgnoreError();
  return s;
}

}  // namespace clawos::sqlite
