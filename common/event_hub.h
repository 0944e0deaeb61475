// The one publish/subscribe hub of ClawOS: a bounded ring of events, each
// with an id that keeps growing, read by any number of subscribers from an
// id of their own. Publishing never blocks and never waits for a reader.
//
// The slow-reader rule, the same everywhere: the ring keeps the latest
// `capacity` events and nothing more. A reader that asks for events after an
// id the ring no longer holds gets what the ring has, with `gap` set (it
// missed some: it should say so to its client, and may re-read the state
// it follows). Memory never grows with a slow or absent reader.
//
// Ids start at `first_id`, or, when that is 0, at the wall clock in
// microseconds: an id from an earlier run of the process is older than every
// id of this one, so a client that resumes across a restart sees a gap, not
// wrong events.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace clawos {

template <typename T>
class EventHub {
 public:
  explicit EventHub(size_t capacity = 4096, int64_t first_id = 0)
      : capacity_(capacity), next_id_(first_id > 0 ? first_id : absl::ToUnixMicros(absl::Now())) {}

  // Adds an event; its id.
  int64_t Publish(T event) {
    int64_t id;
    {
      std::lock_guard lock(mu_);
      id = next_id_++;
      ring_.emplace_back(id, std::move(event));
      while (ring_.size() > capacity_) ring_.pop_front();
    }
    cv_.notify_all();
    return id;
  }

  struct Batch {
    std::vector<std::pair<int64_t, T>> events;  // id, event; oldest first
    bool gap = false;                           // events after `after` were already dropped
    uint64_t dropped = 0;                       // how many (when gap)
    bool closed = false;                        // the hub is shutting down
  };

  // Up to `max` events with id > `after`; waits up to `wait` while there are
  // none. `after` 0 means from the oldest kept (no gap).
  Batch Since(int64_t after, absl::Duration wait, size_t max = 512) {
    std::unique_lock lock(mu_);
    auto ready = [&] { return closed_ || (!ring_.empty() && ring_.back().first > after); };
    if (!ready()) cv_.wait_for(lock, absl::ToChronoNanoseconds(wait), ready);
    Batch b;
    b.closed = closed_;
    if (ring_.empty()) return b;
    b.gap = after > 0 && after < ring_.front().first - 1;
    if (b.gap) b.dropped = static_cast<uint64_t>(ring_.front().first - 1 - after);
    // Ids are consecutive: the first wanted one is found by arithmetic, so
    // a reader holds the lock for what it copies, not for the whole ring.
    const int64_t front = ring_.front().first;
    size_t from = after < front ? 0 : static_cast<size_t>(after - front + 1);
    for (size_t i = from; i < ring_.size() && b.events.size() < max; ++i) {
      b.events.push_back(ring_[i]);
    }
    return b;
  }

  // The id of the newest event (first_id - 1 when none): where a reader that
  // wants only what happens from now on starts.
  int64_t Last() {
    std::lock_guard lock(mu_);
    return ring_.empty() ? next_id_ - 1 : ring_.back().first;
  }

  // Wakes every reader; Since then answers at once with `closed`.
  void Close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }

 private:
  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<int64_t, T>> ring_;
  int64_t next_id_;
  bool closed_ = false;
};

}  // namespace clawos
