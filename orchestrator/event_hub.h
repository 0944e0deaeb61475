// The events of one workflow for its watchers: numbered, the last 128 kept,
// closed after the final one.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include "absl/time/time.h"
#include "clawos/orchestrator/v1/orchestrator.pb.h"

namespace clawos::orchestrator {

class EventHub {
 public:
  void Publish(clawos::orchestrator::v1::WorkflowEvent event) {
    std::lock_guard lock(mu_);
    events_.push_back(std::move(event));
    ++last_;
    if (events_.size() > kKeep) events_.pop_front();
    cv_.notify_all();
  }
  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  uint64_t last() {
    std::lock_guard lock(mu_);
    return last_;
  }
  // Events numbered after `*seen` (waiting up to `timeout` for one); advances
  // `*seen`. `*closed` when no more will come.
  std::vector<clawos::orchestrator::v1::WorkflowEvent> Wait(uint64_t* seen, absl::Duration timeout,
                                                            bool* closed) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout),
                 [&] { return last_ > *seen || closed_; });
    std::vector<clawos::orchestrator::v1::WorkflowEvent> out;
    uint64_t first = last_ - events_.size() + 1;
    for (uint64_t n = std::max(*seen + 1, first); n <= last_; ++n)
      out.push_back(events_[n - first]);
    *seen = last_;
    *closed = closed_ && out.empty();
    return out;
  }

 private:
  static constexpr size_t kKeep = 128;  // each holds the whole workflow
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<clawos::orchestrator::v1::WorkflowEvent> events_;
  uint64_t last_ = 0;
  bool closed_ = false;
};

}  // namespace clawos::orchestrator
