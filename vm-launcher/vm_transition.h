// The VM state machine. Every change of a VM's state goes through Apply,
// which checks that the change is legal from the state the VM is in and
// owns every field the change sets or resets (pid, slot, times, reason).
// Pure: the caller stores the result and tells the watchers.
//
//   CREATING --Created--> STOPPED --Boot--> BOOTING --Launched--> BOOTING
//   (a create that fails, or never finishes before a crash, is removed)
//   BOOTING --Ready--> RUNNING --Stop--> STOPPING --Stopped--> STOPPED
//   BOOTING --Stopped (a stop aborted the start)--> STOPPED
//   any but CREATING --Fail--> FAILED --Boot--> BOOTING
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "vm-launcher/vm.h"

namespace clawos::launcher {

struct VmTransition {
  enum class Kind { kCreated, kBoot, kLaunched, kReady, kStop, kStopped, kFail };
  Kind kind;
  absl::Time now;
  int net_slot = -1;  // kBoot: the bridge slot it was given (-1: none)
  int64_t pid = 0;    // kLaunched: the VMM
  uint64_t pid_start_time = 0;
  uint64_t cgroup_id = 0;
  std::string agent_version;                 // kReady
  FailureKind failure = FailureKind::kNone;  // kFail
  std::string reason;                        // kFail; kStopped: why, if not asked for

  static VmTransition Created(absl::Time now) { return {Kind::kCreated, now}; }
  static VmTransition Boot(absl::Time now, int net_slot);
  static VmTransition Launched(absl::Time now, int64_t pid, uint64_t pid_start_time,
                               uint64_t cgroup_id);
  static VmTransition Ready(absl::Time now, std::string agent_version);
  static VmTransition Stop(absl::Time now) { return {Kind::kStop, now}; }
  static VmTransition Stopped(absl::Time now, std::string reason = "");
  // `reason` may quote the guest (its console): it is made safe text here.
  static VmTransition Fail(absl::Time now, FailureKind kind, std::string reason);
};

// The VM after `t`, or FAILED_PRECONDITION naming the state that forbids it.
absl::StatusOr<Vm> Apply(const Vm& vm, const VmTransition& t);

}  // namespace clawos::launcher
