#include "monitor/event_filter.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "monitor/syscalls.h"

namespace clawos::monitor {

namespace pb = ::clawos::monitor::v1;

absl::StatusOr<EventFilter> EventFilter::Create(const pb::EventFilter& filter) {
  std::set<int> syscalls;
  for (const auto& name : filter.syscalls()) {
    int nr = SyscallNumber(name);
    if (nr < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("filter.syscalls: \"", name, "\" is not an x86-64 system call"));
    }
    syscalls.insert(nr);
  }
  return EventFilter(filter, std::move(syscalls));
}

bool EventFilter::Matches(const pb::Event& e) const {
  const auto& vms = filter_.vms();
  if (!vms.empty() && std::find(vms.begin(), vms.end(), e.vm()) == vms.end()) return false;
  if (!syscalls_.empty() &&
      (e.kind() != pb::Event::SYSCALL || !syscalls_.count(e.syscall().nr()))) {
    return false;
  }
  if (filter_.min_severity() != pb::SEVERITY_UNSPECIFIED && e.severity() < filter_.min_severity()) {
    return false;
  }
  const auto& kinds = filter_.kinds();
  if (!kinds.empty() && std::find(kinds.begin(), kinds.end(), e.kind()) == kinds.end()) {
    return false;
  }
  return true;
}

}  // namespace clawos::monitor
