// Group commit for the ledger: the data path hands each finished request's
// row to Record() and goes on; one writer thread commits whatever has queued
// up in a single transaction (one sync for many rows). A failed commit (disk
// full, I/O error) is logged and retried with the same rows, never dropped;
// when `max_queued` rows wait, Record() blocks, so a stalled disk slows the
// proxy down rather than losing rows. Flush() waits for what came before it.
// With retention set, the same thread also deletes rows older than the
// cutoff it is given, in small batches between commits. Under load, rows
// gather for up to 2 ms before a commit. With an audit log,
// the same thread appends each row's audit line as the row is taken for
// its first commit (one write for the batch, never twice for a retried
// one), so the data path's threads never queue on the audit file.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/time/time.h"
#include "inference-proxy/audit_log.h"
#include "inference-proxy/ledger.h"

namespace clawos::proxy {

class LedgerWriter {
 public:
  // `audit` (optional) outlives the writer.
  explicit LedgerWriter(Ledger& ledger, AuditLog* audit = nullptr, size_t max_queued = 65536,
                        absl::Duration retry_after = absl::Seconds(1));
  // Commits everything queued, then stops.
  ~LedgerWriter();
  LedgerWriter(const LedgerWriter&) = delete;

  void Record(LedgerRow row);
  // Returns once every row recorded before the call is committed (and its
  // audit line written).
  void Flush();
  int64_t failed_commits() const;
  // From now on, every `every`, rows older than cutoff() are deleted.
  void SetRetention(std::function<absl::Time()> cutoff, absl::Duration every = absl::Minutes(10));
  // Runs one pruning pass now (all rows older than cutoff()); returns how many went.
  absl::StatusOr<int64_t> PruneNow();

 private:
  void Run();

  Ledger& ledger_;
  AuditLog* const audit_;
  const size_t max_queued_;
  const absl::Duration retry_after_;
  mutable std::mutex mu_;
  std::condition_variable wake_, space_, committed_;
  std::deque<LedgerRow> queue_;
  size_t in_flight_ = 0;  // rows in the commit under way
  uint64_t enqueued_ = 0, done_ = 0;
  int64_t failed_commits_ = 0;
  bool stop_ = false;
  std::function<absl::Time()> cutoff_;
  absl::Duration prune_every_ = absl::InfiniteDuration();
  absl::Time next_prune_ = absl::InfiniteFuture();
  std::thread thread_;
};

}  // namespace clawos::proxy
