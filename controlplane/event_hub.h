// The control plane's event feed (GET /v1/events): VM lifecycle events and
// monitor alerts, each with an id, kept in a ring so that a client that
// reconnects with Last-Event-ID gets what it missed. Ids keep growing across
// restarts (they start from the start time in microseconds), so an id from
// an earlier run is older than every id of this one.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace clawos::controlplane {

struct HubEvent {
  int64_t id = 0;
  std::string type;  // "vm" or "alert"
  std::string json;  // the VmEvent or monitor Event (proto JSON)
};

class EventHub {
 public:
  explicit EventHub(size_t capacity = 4096, int64_t first_id = 0);

  int64_t Publish(std::string type, std::string json);

  struct Batch {
    std::vector<HubEvent> events;
    bool gap = false;     // events after `after` were already dropped from the ring
    bool closed = false;  // the hub is shutting down
  };
  // Events with id > `after`; waits up to `wait` when there are none.
  Batch Since(int64_t after, absl::Duration wait);
  // The id of the newest event (0 if none): where a new client starts.
  int64_t Last();
  void Close();

 private:
  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<HubEvent> ring_;
  int64_t next_id_;
  bool closed_ = false;
};

}  // namespace clawos::controlplane
