// The monitor's kernel side, loaded and attached (libbpf skeleton): targets
// in the in-kernel cgroup filter, per-target system call policy bits, counts
// and stats read back (summed over CPUs), events drained from the ring
// buffer. Needs root (CAP_BPF + CAP_PERFMON); Open() says so when refused.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"

extern "C" {
#include <linux/types.h>

#include "events.h"
}

struct bpf_link;
struct monitor_bpf;
struct ring_buffer;

namespace clawos::monitor {

inline constexpr int kMaxTargets = CLAWOS_MAX_TARGETS;
inline constexpr int kMaxSyscalls = CLAWOS_MAX_SYSCALLS;

using SyscallCounts = std::array<uint64_t, kMaxSyscalls>;

class BpfMonitor {
 public:
  struct Options {
    // A producer wakes the reader once this much is pending; below it the
    // reader finds events when it polls.
    uint64_t wakeup_bytes = 256 << 10;
    // Use the generic sys_exit program even when per-call exit tracepoints
    // exist (tests and the benchmark compare the two).
    bool generic_exit = false;
  };
  using EventHandler = std::function<void(const clawos_event&)>;

  static absl::StatusOr<std::unique_ptr<BpfMonitor>> Open(const Options& options,
                                                          EventHandler handler);
  ~BpfMonitor();
  BpfMonitor(const BpfMonitor&) = delete;

  // `index` (0..kMaxTargets-1) is the target's row in the counts; the caller
  // owns the numbering. The row's counts, stats and policy start at zero.
  absl::Status AddTarget(uint64_t cgroup_id, uint32_t index);
  absl::Status RemoveTarget(uint64_t cgroup_id, uint32_t index);
  // CLAWOS_POL_* bits for one system call of one target. A detailed call
  // gets its exit hook first (syscalls:sys_exit_<name>); a call the kernel
  // has no exit tracepoint for gets CLAWOS_POL_AT_ENTRY added.
  absl::Status SetPolicy(uint32_t index, int nr, uint8_t bits);

  // "per-call" when detailed calls have their own exit hooks; "generic" when
  // every call of the host runs the sys_exit program (no syscall tracepoints).
  std::string ExitHooks() const;

  absl::StatusOr<SyscallCounts> Counts(uint32_t index) const;
  absl::StatusOr<clawos_target_stats> Stats(uint32_t index) const;

  // Hands every waiting event to the handler, waiting up to `timeout_ms` for
  // the first; returns how many were handled.
  absl::StatusOr<int> Poll(int timeout_ms);

 private:
  BpfMonitor() = default;
  absl::Status ClearRow(uint32_t index);
  // Makes every task read its target row again (tasks cache it).
  void NewGeneration();
  // NOT_FOUND: the call has no exit tracepoint (it is detailed at entry).
  absl::Status HookExit(int nr);
  absl::Status UseGenericExit(const absl::Status& why);

  monitor_bpf* skel_ = nullptr;
  ring_buffer* rb_ = nullptr;
  int ncpu_ = 1;
  EventHandler handler_;

  mutable std::mutex hooks_mu_;
  std::map<int, int> exit_tracepoints_;  // nr → tracepoint id
  std::map<int, bpf_link*> exit_links_;  // nr → its exit hook
  bpf_link* generic_exit_ = nullptr;
};

}  // namespace clawos::monitor
