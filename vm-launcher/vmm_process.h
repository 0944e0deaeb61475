// The VMM process of one VM: disks made for it, QEMU started inside its
// cgroup, the agent's readiness awaited on the channel, and an orderly stop
// (agent power-off, then QMP quit, then SIGKILL). A pid is only trusted
// together with its start time, so a recycled pid is never mistaken for it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "vm-launcher/cgroup.h"
#include "vm-launcher/qemu_command.h"

namespace clawos::launcher {

// Field 22 of /proc/<pid>/stat (clock ticks since boot), or 0 if no such pid.
uint64_t ProcessStartTime(pid_t pid);
// True while `pid` runs and is the process that started at `start_time`.
bool IsSameProcess(pid_t pid, uint64_t start_time);

// A sparse file of `size_mib` formatted ext4 (mode 0600), for /var or /workspace.
absl::Status CreateExt4Disk(const std::string& path, int64_t size_mib);

class VmmProcess {
 public:
  // Starts QEMU with `config` (validated), its output appended to `log_path`,
  // and moves it into `cgroup`.
  static absl::StatusOr<std::unique_ptr<VmmProcess>> Launch(const QemuConfig& config,
                                                            const VmCgroup& cgroup,
                                                            const std::string& log_path);
  // Adopts a running VMM after a launcher restart; NOT_FOUND if it is gone.
  static absl::StatusOr<std::unique_ptr<VmmProcess>> Adopt(pid_t pid, uint64_t start_time,
                                                           const QemuConfig& config);
  ~VmmProcess();

  // Waits for the agent's first line: "READY ..." → the line; "FAILED ..." or
  // QEMU exiting → FAILED_PRECONDITION with the reason and the console's tail.
  absl::StatusOr<std::string> WaitReady(absl::Duration timeout);
  // Orderly stop; returns once QEMU is gone.
  absl::Status Stop(absl::Duration grace);
  bool Running();

  pid_t pid() const { return pid_; }
  uint64_t start_time() const { return start_time_; }

 private:
  VmmProcess() = default;
  absl::Status ConnectAgent(absl::Time deadline);
  std::string ConsoleTail() const;
  QemuConfig config_;
  pid_t pid_ = -1;
  uint64_t start_time_ = 0;
  bool child_ = false;  // launched by us (reap with waitpid) or adopted
  int agent_fd_ = -1;
  std::string pending_;
};

}  // namespace clawos::launcher
