// A StreamEvents client's filter: which VMs, system calls, kinds and
// severities it wants. The events themselves come from the monitor's one
// EventHub (common/event_hub.h).
#pragma once

#include <memory>
#include <set>

#include "absl/status/statusor.h"
#include "clawos/monitor/v1/monitor.pb.h"

namespace clawos::monitor {

class EventFilter {
 public:
  // INVALID_ARGUMENT for a system call name this architecture lacks.
  static absl::StatusOr<EventFilter> Create(const ::clawos::monitor::v1::EventFilter& filter);

  bool Matches(const ::clawos::monitor::v1::Event& e) const;

 private:
  EventFilter(::clawos::monitor::v1::EventFilter filter, std::set<int> syscalls)
      : filter_(std::move(filter)), syscalls_(std::move(syscalls)) {}
  ::clawos::monitor::v1::EventFilter filter_;
  std::set<int> syscalls_;
};

}  // namespace clawos::monitor
