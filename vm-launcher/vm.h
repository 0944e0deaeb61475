// A VM as the launcher keeps it: what was asked for (the spec), where it is in
// its life (the state), and what runs it (pid, cgroup). Which operations are
// legal in which state is decided here, in one place.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace clawos::launcher {

enum class VmState { kCreating, kBooting, kRunning, kStopping, kStopped, kFailed };

const char* VmStateName(VmState s);  // "CREATING", ...
bool ParseVmState(const std::string& name, VmState* out);

struct VmSpec {
  std::string name;   // [a-z0-9][a-z0-9-]{0,62}
  std::string image;  // an imported image's name
  int vcpus = 1;
  int memory_mib = 256;
  int64_t runtime_disk_mib = 256;             // /var
  int64_t workspace_disk_mib = 1024;          // /workspace, kept across stop/start
  std::string network = "none";               // "none" or "bridge"
  std::map<std::string, std::string> env;     // the guest agent's and its commands'
  std::map<std::string, std::string> labels;  // for filtering
  std::string model;                          // the agent's LLM model, in its token; "" for any
};

struct VmLimits {
  int max_vcpus = 8;
  int max_memory_mib = 16384;
  int64_t max_disk_mib = 64 * 1024;
};

// Why a VM is FAILED (clawos.launcher.v1.Failure.Reason).
enum class FailureKind {
  kNone = 0,
  kImageVerification = 1,
  kHostSetup = 2,
  kIdentity = 3,
  kVmmExited = 4,
  kBootTimeout = 5,
  kAgentUnresponsive = 6,
};

struct Vm {
  VmSpec spec;
  VmState state = VmState::kCreating;
  FailureKind failure = FailureKind::kNone;
  std::string reason;           // why it is FAILED (or last stopped), for humans
  int64_t pid = 0;              // the VMM process while one runs
  uint64_t pid_start_time = 0;  // /proc/<pid>/stat field 22: pid + this identify a process
  uint64_t cgroup_id = 0;
  std::string agent_version;  // from the guest's Hello in the current or last run
  int net_slot = -1;          // BRIDGE mode: the tap/address slot while it runs
  uint32_t jail_uid = 0;      // its VMM's own uid and gid (0: none allocated yet), for life
  std::string template_id;    // the template the current or last run was restored from ("": booted)
  absl::Time create_time;
  absl::Time update_time;
  absl::Time start_time = absl::InfinitePast();  // the current or last run's
  absl::Time ready_time = absl::InfinitePast();
  absl::Time stop_time = absl::InfinitePast();
};

absl::Status ValidateVmName(const std::string& name);
// INVALID_ARGUMENT naming the first bad field.
absl::Status ValidateVmSpec(const VmSpec& spec, const VmLimits& limits);

// The VM's machine id (Welcome.machine_id): 32 lower-case hex digits, the
// same for the VM's whole life, different for every VM ever created (its
// name and creation time hashed).
std::string MachineId(const Vm& vm);

// FAILED_PRECONDITION saying what the VM's state allows, when `op` is not legal.
enum class VmOp { kStart, kStop, kDelete, kExec };
absl::Status CheckAllowed(const Vm& vm, VmOp op);

}  // namespace clawos::launcher
