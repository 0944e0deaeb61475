// Waiting in tests for what another thread or process does: poll a condition
// until it holds or a deadline passes (docs/testing.md: wait for the thing,
// not for a time; the deadline is generous because a loaded CI machine is slow).
#pragma once

#include <functional>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace clawos::testing {

// True as soon as `done()` is; false if it still is not after `limit`.
inline bool Eventually(const std::function<bool()>& done, absl::Duration limit = absl::Seconds(30),
                       absl::Duration every = absl::Milliseconds(50)) {
  const absl::Time deadline = absl::Now() + limit;
  while (!done()) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(every);
  }
  return true;
}

}  // namespace clawos::testing
