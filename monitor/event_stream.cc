#include "monitor/event_stream.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "monitor/syscalls.h"

namespace clawos::monitor {

namespace pb = ::clawos::monitor::v1;

absl::StatusOr<std::unique_ptr<EventStream>> EventStream::Create(const pb::EventFilter& filter,
                                                                 size_t max_queue) {
  std::set<int> syscalls;
  for (const auto& name : filter.syscalls()) {
    int nr = SyscallNumber(name);
    if (nr < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("filter.syscalls: \"", name, "\" is not an x86-64 system call"));
    }
    syscalls.insert(nr);
  }
  return std::unique_ptr<EventStream>(new EventStream(filter, std::move(syscalls), max_queue));
}

bool EventStream::Matches(const pb::Event& e) const {
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

void EventStream::Push(const pb::Event& e) {
  std::lock_guard lock(mu_);
  if (closed_) return;
  if (queue_.size() >= max_queue_) {
    ++dropped_;
    ++pending_drops_;
    return;
  }
  queue_.push_back(e);
  if (pending_drops_) {
    queue_.back().set_dropped_before(pending_drops_);
    pending_drops_ = 0;
  }
  cv_.notify_one();
}

std::optional<pb::Event> EventStream::Next(absl::Duration timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout),
               [&] { return closed_ || !queue_.empty(); });
  if (queue_.empty()) return std::nullopt;
  pb::Event e = std::move(queue_.front());
  queue_.pop_front();
  return e;
}

void EventStream::Close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  cv_.notify_all();
}

uint64_t EventStream::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

}  // namespace clawos::monitor
