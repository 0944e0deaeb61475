#include "inference-proxy/ledger.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"

namespace clawos::proxy {
namespace {

const std::vector<sqlite::Migration>& Migrations() {
  static const std::vector<sqlite::Migration> m = {{1, R"sql(
CREATE TABLE requests(
  request_id        TEXT PRIMARY KEY,
  time_us           INTEGER NOT NULL,
  subject           TEXT NOT NULL,
  vm                TEXT NOT NULL,
  method            TEXT NOT NULL,
  path              TEXT NOT NULL,
  provider          TEXT NOT NULL,
  model             TEXT NOT NULL,
  streamed          INTEGER NOT NULL,
  outcome           INTEGER NOT NULL,
  http_status       INTEGER NOT NULL,
  prompt_tokens     INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  latency_us        INTEGER NOT NULL,
  error             TEXT NOT NULL
);
CREATE INDEX requests_by_subject_time ON requests(subject, time_us);
CREATE INDEX requests_by_time ON requests(time_us);
)sql"}};
  return m;
}

constexpr char kColumns[] =
    "request_id, time_us, subject, vm, method, path, provider, model, streamed, outcome, "
    "http_status, prompt_tokens, completion_tokens, latency_us, error";

LedgerRow FromRow(const sqlite::Statement& st) {
  LedgerRow r;
  r.request_id = st.Text(0);
  r.time = absl::FromUnixMicros(st.Int(1));
  r.subject = st.Text(2);
  r.vm = st.Text(3);
  r.method = st.Text(4);
  r.path = st.Text(5);
  r.provider = st.Text(6);
  r.model = st.Text(7);
  r.streamed = st.Int(8) != 0;
  r.outcome = static_cast<Outcome>(st.Int(9));
  r.http_status = static_cast<int>(st.Int(10));
  r.prompt_tokens = st.Int(11);
  r.completion_tokens = st.Int(12);
  r.latency = absl::Microseconds(st.Int(13));
  r.error = st.Text(14);
  return r;
}

}  // namespace

const char* OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kSuccess:
      return "SUCCESS";
    case Outcome::kUnauthenticated:
      return "UNAUTHENTICATED";
    case Outcome::kRateLimited:
      return "RATE_LIMITED";
    case Outcome::kBudgetExceeded:
      return "BUDGET_EXCEEDED";
    case Outcome::kBadRequest:
      return "BAD_REQUEST";
    case Outcome::kUpstreamError:
      return "UPSTREAM_ERROR";
    case Outcome::kClientCancelled:
      return "CLIENT_CANCELLED";
    case Outcome::kForbidden:
      return "FORBIDDEN";
  }
  return "OUTCOME_UNSPECIFIED";
}

absl::StatusOr<std::unique_ptr<Ledger>> Ledger::Open(const std::string& path) {
  ASSIGN_OR_RETURN(auto db, sqlite::Db::Open(path, Migrations()));
  return std::unique_ptr<Ledger>(new Ledger(std::move(db)));
}

namespace {

void BindRow(sqlite::Statement& st, const LedgerRow& r, const std::string& id) {
  st.Bind(1, id).Bind(2, absl::ToUnixMicros(r.time)).Bind(3, r.subject).Bind(4, r.vm);
  st.Bind(5, r.method).Bind(6, r.path).Bind(7, r.provider).Bind(8, r.model);
  st.Bind(9, int64_t{r.streamed}).Bind(10, static_cast<int64_t>(r.outcome));
  st.Bind(11, int64_t{r.http_status}).Bind(12, r.prompt_tokens).Bind(13, r.completion_tokens);
  st.Bind(14, absl::ToInt64Microseconds(r.latency)).Bind(15, r.error);
}

const std::string& InsertSql() {
  static const std::string sql =
      absl::StrCat("INSERT INTO requests(", kColumns, ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  return sql;
}

}  // namespace

absl::StatusOr<int> Ledger::RecordBatch(const std::vector<LedgerRow>& rows) {
  ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(*db_));
  ASSIGN_OR_RETURN(auto st, db_->Prepare(InsertSql()));
  int renamed = 0;
  for (const auto& r : rows) {
    BindRow(st, r, r.request_id);
    auto s = st.Run();
    st.Reset();
    if (s.code() == absl::StatusCode::kAlreadyExists) {
      // A client reused its x-request-id: keep the row under a suffixed id.
      ++renamed;
      BindRow(st, r,
              absl::StrCat(r.request_id, "~", absl::ToUnixMicros(absl::Now()), "~", renamed));
      s = st.Run();
      st.Reset();
    }
    if (!s.ok()) return s;
  }
  RETURN_IF_ERROR(tx->Commit());
  return renamed;
}

absl::StatusOr<std::vector<LedgerRow>> Ledger::Recent(const std::string& subject, absl::Time since,
                                                      int limit) const {
  std::lock_guard lock(db_->mutex());
  ASSIGN_OR_RETURN(auto st, db_->Prepare(absl::StrCat(
                                "SELECT ", kColumns,
                                " FROM requests WHERE (?1 = '' OR subject = ?1) AND time_us >= ?2 "
                                "ORDER BY time_us DESC LIMIT ?3")));
  st.Bind(1, subject).Bind(2, absl::ToUnixMicros(since)).Bind(3, int64_t{limit});
  std::vector<LedgerRow> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(FromRow(st));
  }
  return out;
}

absl::StatusOr<UsageTotals> Ledger::Totals(const std::string& subject, absl::Time start,
                                           absl::Time end) const {
  std::lock_guard lock(db_->mutex());
  ASSIGN_OR_RETURN(
      auto st, db_->Prepare("SELECT COUNT(*), "
                            "COALESCE(SUM(outcome IN (3, 4)), 0), "
                            "COALESCE(SUM(outcome NOT IN (1, 3, 4)), 0), "
                            "COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0) "
                            "FROM requests WHERE (?1 = '' OR subject = ?1) "
                            "AND time_us >= ?2 AND time_us < ?3"));
  st.Bind(1, subject).Bind(2, absl::ToUnixMicros(start)).Bind(3, absl::ToUnixMicros(end));
  ASSIGN_OR_RETURN(bool row, st.Step());
  UsageTotals t;
  if (row) {
    t.requests = st.Int(0);
    t.rejected = st.Int(1);
    t.errors = st.Int(2);
    t.prompt_tokens = st.Int(3);
    t.completion_tokens = st.Int(4);
  }
  return t;
}

absl::StatusOr<std::vector<Ledger::Spend>> Ledger::SpendSince(absl::Time since) const {
  std::lock_guard lock(db_->mutex());
  ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT subject, time_us, prompt_tokens + "
                                         "completion_tokens FROM requests WHERE time_us >= ? AND "
                                         "subject != '' AND prompt_tokens + completion_tokens > 0 "
                                         "ORDER BY time_us"));
  st.Bind(1, absl::ToUnixMicros(since));
  std::vector<Spend> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({st.Text(0), absl::FromUnixMicros(st.Int(1)), st.Int(2)});
  }
  return out;
}

absl::StatusOr<int64_t> Ledger::PruneBefore(absl::Time before, int64_t max_rows) {
  ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(*db_));
  ASSIGN_OR_RETURN(auto st, db_->Prepare("DELETE FROM requests WHERE rowid IN (SELECT rowid FROM "
                                         "requests WHERE time_us < ? ORDER BY time_us LIMIT ?)"));
  st.Bind(1, absl::ToUnixMicros(before)).Bind(2, max_rows);
  RETURN_IF_ERROR(st.Run());
  int64_t n = db_->Changes();
  RETURN_IF_ERROR(tx->Commit());
  return n;
}

}  // namespace clawos::proxy
