#include "inference-proxy/ledger_writer.h"

#include <vector>

#include "absl/time/clock.h"
#include "common/log.h"

namespace clawos::proxy {

namespace {
// How long the writer lets rows gather before a commit, and how many make it
// go at once: at most ~500 commits a second under load, 2 ms more until a
// row is on disk.
constexpr absl::Duration kLinger = absl::Milliseconds(2);
constexpr size_t kFullBatch = 512;
}  // namespace

LedgerWriter::LedgerWriter(Ledger& ledger, AuditLog* audit, size_t max_queued,
                           absl::Duration retry_after)
    : ledger_(ledger), audit_(audit), max_queued_(max_queued), retry_after_(retry_after) {
  thread_ = std::thread([this] { Run(); });
}

LedgerWriter::~LedgerWriter() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void LedgerWriter::Record(LedgerRow row) {
  std::unique_lock lock(mu_);
  space_.wait(lock, [&] { return queue_.size() + in_flight_ < max_queued_; });
  queue_.push_back(std::move(row));
  ++enqueued_;
  if (queue_.size() == 1 || queue_.size() == kFullBatch) wake_.notify_one();
}

void LedgerWriter::Flush() {
  std::unique_lock lock(mu_);
  uint64_t target = enqueued_;
  committed_.wait(lock, [&] { return done_ >= target; });
}

int64_t LedgerWriter::failed_commits() const {
  std::lock_guard lock(mu_);
  return failed_commits_;
}

void LedgerWriter::SetRetention(std::function<absl::Time()> cutoff, absl::Duration every) {
  std::lock_guard lock(mu_);
  cutoff_ = std::move(cutoff);
  prune_every_ = every;
  next_prune_ = absl::Now();
  wake_.notify_all();
}

absl::StatusOr<int64_t> LedgerWriter::PruneNow() {
  std::function<absl::Time()> cutoff;
  {
    std::lock_guard lock(mu_);
    cutoff = cutoff_;
  }
  if (!cutoff) return 0;
  const absl::Time before = cutoff();
  int64_t total = 0;
  for (;;) {  // batches, so commits of new rows are never held up for long
    auto n = ledger_.PruneBefore(before);
    if (!n.ok()) return n.status();
    total += *n;
    if (*n == 0) return total;
  }
}

void LedgerWriter::Run() {
  std::vector<LedgerRow> batch;  // taken from the queue, not yet committed
  std::unique_lock lock(mu_);
  while (true) {
    auto work = [&] {
      return stop_ || !queue_.empty() || !batch.empty() || (cutoff_ && absl::Now() >= next_prune_);
    };
    if (cutoff_) {
      wake_.wait_until(lock, absl::ToChronoTime(next_prune_), work);
    } else {
      wake_.wait(lock, work);
    }
    if (!stop_ && cutoff_ && absl::Now() >= next_prune_) {
      next_prune_ = absl::Now() + prune_every_;
      lock.unlock();
      auto n = PruneNow();
      if (!n.ok()) {
        log::Warn("ledger pruning failed; will retry",
                  {{"error", std::string(n.status().message())}});
      } else if (*n > 0) {
        log::Info("ledger rows past retention deleted", {{"rows", *n}});
      }
      lock.lock();
    }
    if (!stop_ && queue_.empty() && batch.empty()) continue;
    if (queue_.empty() && batch.empty()) return;  // stopping with nothing left
    // Busy: let the batch fill for a moment, so a commit (and a wake-up)
    // carries many rows rather than one.
    if (!stop_ && batch.empty() && queue_.size() < kFullBatch) {
      wake_.wait_for(lock, absl::ToChronoMilliseconds(kLinger),
                     [&] { return stop_ || queue_.size() >= kFullBatch; });
    }
    const size_t fresh = batch.size();  // rows before this are a retry: audited already
    for (auto& r : queue_) batch.push_back(std::move(r));
    queue_.clear();
    in_flight_ = batch.size();
    lock.unlock();
    if (audit_ && fresh < batch.size()) {
      if (auto a = audit_->WriteBatch(batch, fresh); !a.ok()) {
        log::Warn("audit lines not written", {{"rows", static_cast<int64_t>(batch.size() - fresh)},
                                              {"error", std::string(a.message())}});
      }
    }
    auto s = ledger_.RecordBatch(batch);
    lock.lock();
    bool give_up = false;
    if (s.ok()) {
      if (*s > 0) log::Warn("reused request ids stored under suffixed ids", {{"rows", *s}});
    } else {
      ++failed_commits_;
      give_up = stop_;  // shutting down and the last attempt failed too
      log::Error(give_up ? "ledger rows lost at shutdown" : "ledger commit failed; will retry",
                 {{"rows", static_cast<int64_t>(batch.size())},
                  {"error", std::string(s.status().message())}});
    }
    if (s.ok() || give_up) {
      done_ += batch.size();
      batch.clear();
      in_flight_ = 0;
      committed_.notify_all();
      space_.notify_all();
      continue;
    }
    // Nothing is dropped: the same rows (and any new ones) go in the next attempt.
    wake_.wait_for(lock, absl::ToChronoMilliseconds(retry_after_), [&] { return stop_; });
  }
}

}  // namespace clawos::proxy
