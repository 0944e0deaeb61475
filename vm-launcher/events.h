// VM state changes fanned out to watchers (WatchVms). Publishing never
// blocks: a watcher that falls more than 1000 events behind is cut off and
// told so, rather than slowing the launcher down.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "vm-launcher/vm.h"

namespace clawos::launcher {

struct VmChange {
  enum class Type { kCreated, kStateChanged, kDeleted };
  Type type = Type::kStateChanged;
  Vm vm;  // after the change (for kDeleted: as it was last)
  VmState previous = VmState::kCreating;
  absl::Time time;
};

class VmEvents {
 public:
  class Subscription {
   public:
    // The next change; DEADLINE_EXCEEDED at `deadline`; ABORTED when this
    // watcher fell behind and missed changes.
    absl::StatusOr<VmChange> Next(absl::Time deadline);

   private:
    friend class VmEvents;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<VmChange> queue_;
    bool overflowed_ = false;
  };

  std::shared_ptr<Subscription> Subscribe();
  void Publish(const VmChange& change);

 private:
  std::mutex mu_;
  std::vector<std::weak_ptr<Subscription>> subs_;
};

}  // namespace clawos::launcher
