// One StreamEvents client: its filter and a bounded queue. A client that
// reads too slowly loses the newest events (counted), never slows the
// monitor; the next event it gets says how many it lost (dropped_before).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <set>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clawos/monitor/v1/monitor.pb.h"

namespace clawos::monitor {

class EventStream {
 public:
  // INVALID_ARGUMENT for a system call name this architecture lacks.
  static absl::StatusOr<std::unique_ptr<EventStream>> Create(
      const ::clawos::monitor::v1::EventFilter& filter, size_t max_queue = 4096);

  bool Matches(const ::clawos::monitor::v1::Event& e) const;
  void Push(const ::clawos::monitor::v1::Event& e);
  // The next event, or nullopt after `timeout` (or once closed).
  std::optional<::clawos::monitor::v1::Event> Next(absl::Duration timeout);
  void Close();
  uint64_t dropped() const;

 private:
  EventStream(::clawos::monitor::v1::EventFilter filter, std::set<int> syscalls, size_t max_queue)
      : filter_(std::move(filter)), syscalls_(std::move(syscalls)), max_queue_(max_queue) {}
  ::clawos::monitor::v1::EventFilter filter_;
  std::set<int> syscalls_;
  size_t max_queue_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<::clawos::monitor::v1::Event> queue_;
  uint64_t dropped_ = 0, pending_drops_ = 0;
  bool closed_ = false;
};

}  // namespace clawos::monitor
