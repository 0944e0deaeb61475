// `clawos doctor`: preflight checks of this host for ClawOS, each OK, WARN or
// FAIL with what to do about it. Exit code 1 when anything FAILs.
#pragma once

#include <string>
#include <vector>

#include "cli/stack.h"

namespace clawos::cli {

struct Check {
  enum Level { kOk, kWarn, kFail } level = kOk;
  std::string name;  // "kvm"
  std::string what;  // what was found
  std::string fix;   // what to do (WARN/FAIL)
};

// Checks this host and the stack of `stack` (its state directory and ports;
// readiness through its own control plane).
std::vector<Check> RunChecks(const StackOptions& stack);

}  // namespace clawos::cli
