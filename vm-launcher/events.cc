#include "vm-launcher/events.h"

namespace clawos::launcher {

constexpr size_t kMaxQueued = 1000;

absl::StatusOr<VmChange> VmEvents::Subscription::Next(absl::Time deadline) {
  std::unique_lock lock(mu_);
  while (queue_.empty() && !overflowed_) {
    if (cv_.wait_until(lock, absl::ToChronoTime(deadline)) == std::cv_status::timeout &&
        absl::Now() >= deadline) {
      return absl::DeadlineExceededError("no change");
    }
  }
  if (overflowed_) {
    return absl::AbortedError("the watcher fell more than 1000 changes behind; watch again");
  }
  VmChange c = std::move(queue_.front());
  queue_.pop_front();
  return c;
}

std::shared_ptr<VmEvents::Subscription> VmEvents::Subscribe() {
  auto s = std::make_shared<Subscription>();
  std::lock_guard lock(mu_);
  subs_.push_back(s);
  return s;
}

void VmEvents::Publish(const VmChange& change) {
  std::lock_guard lock(mu_);
  for (auto it = subs_.begin(); it != subs_.end();) {
    auto s = it->lock();
    if (!s) {
      it = subs_.erase(it);
      continue;
    }
    {
      std::lock_guard slock(s->mu_);
      if (s->queue_.size() >= kMaxQueued) {
        s->overflowed_ = true;
      } else {
        s->queue_.push_back(change);
      }
    }
    s->cv_.notify_all();
    ++it;
  }
}

}  // namespace clawos::launcher
