#include "controlplane/event_hub.h"

#include "absl/time/clock.h"

namespace clawos::controlplane {

EventHub::EventHub(size_t capacity, int64_t first_id)
    : capacity_(capacity), next_id_(first_id > 0 ? first_id : absl::ToUnixMicros(absl::Now())) {}

int64_t EventHub::Publish(std::string type, std::string json) {
  int64_t id;
  {
    std::lock_guard lock(mu_);
    id = next_id_++;
    ring_.push_back({id, std::move(type), std::move(json)});
    while (ring_.size() > capacity_) ring_.pop_front();
  }
  cv_.notify_all();
  return id;
}

EventHub::Batch EventHub::Since(int64_t after, absl::Duration wait) {
  std::unique_lock lock(mu_);
  auto ready = [&] { return closed_ || (!ring_.empty() && ring_.back().id > after); };
  if (!ready()) {
    cv_.wait_for(lock, absl::ToChronoNanoseconds(wait), ready);
  }
  Batch b;
  b.closed = closed_;
  if (ring_.empty()) return b;
  // An `after` from before the oldest kept event (and not simply "before
  // anything": 0) means some were dropped.
  b.gap = after > 0 && after < ring_.front().id - 1;
  for (const auto& e : ring_) {
    if (e.id > after) b.events.push_back(e);
  }
  return b;
}

int64_t EventHub::Last() {
  std::lock_guard lock(mu_);
  return ring_.empty() ? next_id_ - 1 : ring_.back().id;
}

void EventHub::Close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

}  // namespace clawos::controlplane
