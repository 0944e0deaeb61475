// VM state changes fanned out to watchers (WatchVms). Publishing never
// blocks: a watcher that falls more than 1000 events behind is cut off and
// told so, rather than slowing the launcher down.
#pragma once

#include "absl/time/time.h"
#include "common/event_hub.h"
#include "vm-launcher/vm.h"

namespace clawos::launcher {

struct VmChange {
  enum class Type { kCreated, kStateChanged, kDeleted };
  Type type = Type::kStateChanged;
  Vm vm;  // after the change (for kDeleted: as it was last)
  VmState previous = VmState::kCreating;
  absl::Time time;
};

// Watchers (WatchVms) read the changes from the one hub (common/event_hub.h)
// after the id they started at; one that falls more than kVmEventsKept
// changes behind gets a gap, which WatchVms answers with ABORTED.
using VmEvents = EventHub<VmChange>;
inline constexpr size_t kVmEventsKept = 1000;

}  // namespace clawos::launcher
