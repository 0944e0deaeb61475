// QEMU as one VM's Vmm (vmm.h): started inside the VM's cgroup (through
// clawos-jailer when jailed), and an orderly stop (the exit the agent was
// asked for, then QMP quit, then SIGKILL). The agent channel itself is
// AgentClient's. A pid is only trusted together with its start time, so a
// recycled pid is never mistaken for it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "vm-launcher/jail/jail_spec.h"
#include "vm-launcher/qemu_command.h"
#include "vm-launcher/vmm.h"

namespace clawos::launcher {

// Field 22 of /proc/<pid>/stat (clock ticks since boot), or 0 if no such pid.
uint64_t ProcessStartTime(pid_t pid);
// True while `pid` runs and is the process that started at `start_time`.
bool IsSameProcess(pid_t pid, uint64_t start_time);

// How a VMM is started in its jail: clawos-jailer and the jail (whose argv
// is QEMU's command line as seen from inside).
struct JailLaunch {
  std::string jailer;
  jail::JailSpec spec;
};

class QemuVmm : public Vmm {
 public:
  // Starts QEMU with `config` (validated; host paths), its output appended to
  // `log_path`, after joining the `cgroup_procs` files; in `jail` when given
  // (QEMU then runs as its uid in its namespaces, and this process becomes a
  // child subreaper so that QEMU is still its child once the jailer exits).
  // `pass_fds` become QEMU's descriptors 3, 4, ... (QemuConfig::ram_fd).
  static absl::StatusOr<std::unique_ptr<QemuVmm>> Launch(
      const QemuConfig& config, const std::vector<std::string>& cgroup_procs,
      const std::string& log_path, const JailLaunch* jail = nullptr,
      const std::vector<int>& pass_fds = {});
  // Adopts a running VMM after a launcher restart; NOT_FOUND if it is gone.
  static absl::StatusOr<std::unique_ptr<QemuVmm>> Adopt(pid_t pid, uint64_t start_time,
                                                        const QemuConfig& config,
                                                        const std::string& log_path);
  ~QemuVmm() override;

  // Waits up to `grace` for an exit already under way, then QMP quit, then SIGKILL.
  absl::Status Stop(absl::Duration grace) override;
  absl::Status Kill() override;
  // True until QEMU exited; false at once when `timeout` passes first.
  bool WaitExit(absl::Duration timeout);
  bool Running() override;
  // The last ~600 bytes of the serial console, for failure messages.
  std::string ConsoleTail() const;
  // QEMU's stderr's end (its log), when it exited by itself.
  std::string ExitMessage() const override;
  absl::Status SaveState(int fd) override;
  std::string AgentSocket() const override { return config_.agent_socket; }
  std::string ConsoleLog() const override { return config_.console_log; }
  const QemuConfig& config() const { return config_; }

  pid_t pid() const override { return pid_; }
  uint64_t start_time() const override { return start_time_; }

 private:
  QemuVmm() = default;
  QemuConfig config_;
  std::string log_path_;
  pid_t pid_ = -1;
  uint64_t start_time_ = 0;
  bool child_ = false;  // launched by us (reap with waitpid) or adopted
  std::mutex mu_;       // Running() is asked from several threads
};

}  // namespace clawos::launcher
