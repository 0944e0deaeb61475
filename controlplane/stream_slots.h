// How many long-lived streams (SSE events and logs, workflow events, exec
// output) may be open at once, so that viewers cannot take every connection
// of the listener (512) from admins and unary calls:
//  - all streams together: at most `max_streams`, kept below the listener's
//    cap so unary calls always find a connection;
//  - viewers' streams together: at most `max_viewer_streams`, so admins
//    always have max_streams - max_viewer_streams for themselves;
//  - one viewer subject: at most `max_streams_per_viewer`, so one token
//    cannot take the viewers' share.
// A stream holds its Slot while it lasts; Acquire over a cap is
// RESOURCE_EXHAUSTED naming the cap and its flag. Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"

namespace clawos::controlplane {

struct StreamLimits {
  int max_streams = 384;
  int max_viewer_streams = 128;
  int max_streams_per_viewer = 16;
};

// INVALID_ARGUMENT unless 1 <= per viewer <= viewers <= streams < max_connections.
absl::Status ValidateStreamLimits(const StreamLimits& limits, int max_connections);

class StreamSlots {
 public:
  explicit StreamSlots(StreamLimits limits) : limits_(limits) {}

  // One open stream; releases its place when destroyed.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept { *this = std::move(other); }
    Slot& operator=(Slot&& other) noexcept;
    ~Slot() { Release(); }

   private:
    friend class StreamSlots;
    Slot(StreamSlots* owner, bool viewer, std::string subject)
        : owner_(owner), viewer_(viewer), subject_(std::move(subject)) {}
    void Release();
    StreamSlots* owner_ = nullptr;
    bool viewer_ = false;
    std::string subject_;
  };

  // `viewer`: the caller is not an admin (counted in the viewers' caps).
  absl::StatusOr<Slot> Acquire(bool viewer, const std::string& subject);

  int open() const;
  int open_viewer() const;

 private:
  void Release(bool viewer, const std::string& subject);
  const StreamLimits limits_;
  mutable std::mutex mu_;
  int open_ = 0;
  int viewers_ = 0;
  std::map<std::string, int> per_viewer_;
};

}  // namespace clawos::controlplane
