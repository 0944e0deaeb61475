// The usage ledger: one SQLite row per request on the data path (WAL,
// synchronous=FULL; rows arrive in batches from LedgerWriter), queryable by subject
// and time window; it also seeds the limiter's budget windows after a restart.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/sqlite/db.h"

namespace clawos::proxy {

// clawos.proxy.v1.AuditRecord.Outcome numbers.
enum class Outcome {
  kSuccess = 1,
  kUnauthenticated = 2,
  kRateLimited = 3,
  kBudgetExceeded = 4,
  kBadRequest = 5,
  kUpstreamError = 6,
  kClientCancelled = 7,
  kForbidden = 8,
};
const char* OutcomeName(Outcome o);  // "SUCCESS", ...

struct LedgerRow {
  std::string request_id;
  absl::Time time;
  std::string subject;  // empty when authentication failed
  std::string vm;
  std::string method;
  std::string path;
  std::string provider;
  std::string model;
  bool streamed = false;
  Outcome outcome = Outcome::kSuccess;
  int http_status = 0;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  absl::Duration latency;
  std::string error;
};

struct UsageTotals {
  int64_t requests = 0;
  int64_t rejected = 0;  // RATE_LIMITED, BUDGET_EXCEEDED
  int64_t errors = 0;    // BAD_REQUEST, UPSTREAM_ERROR, CLIENT_CANCELLED, UNAUTHENTICATED
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

class Ledger {
 public:
  static absl::StatusOr<std::unique_ptr<Ledger>> Open(const std::string& path);

  // All of `rows` in one transaction (one sync). A request id already in the
  // ledger (a client reused its x-request-id) is stored as "<id>~<time>~<n>"
  // rather than lost; returns how many were renamed so.
  absl::StatusOr<int> RecordBatch(const std::vector<LedgerRow>& rows);
  // Newest first; empty subject: everyone.
  absl::StatusOr<std::vector<LedgerRow>> Recent(const std::string& subject, absl::Time since,
                                                int limit) const;
  // Over [start, end).
  absl::StatusOr<UsageTotals> Totals(const std::string& subject, absl::Time start,
                                     absl::Time end) const;
  // Every row since `since` with tokens, oldest first: (subject, time, tokens).
  struct Spend {
    std::string subject;
    absl::Time time;
    int64_t tokens;
  };
  absl::StatusOr<std::vector<Spend>> SpendSince(absl::Time since) const;
  // Deletes up to `max_rows` of the oldest rows older than `before` (small
  // batches keep the writer's lock short); returns how many went.
  absl::StatusOr<int64_t> PruneBefore(absl::Time before, int64_t max_rows = 5000);

 private:
  explicit Ledger(std::unique_ptr<sqlite::Db> db) : db_(std::move(db)) {}
  std::unique_ptr<sqlite::Db> db_;
};

}  // namespace clawos::proxy
