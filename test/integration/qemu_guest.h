// Test helper: boots a built guest image with the launcher's QEMU command line
// (TCG here; KVM when CLAWOS_TEST_ACCEL=kvm): disks by serial, the console in a
// file, the agent channel and QMP on unix sockets.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "image/manifest.h"
#include "vm-launcher/agent_client.h"
#include "vm-launcher/qmp_client.h"

namespace clawos::testing {

struct GuestOptions {
  std::string image_dir;
  std::string work_dir;         // console.log, agent.sock go here
  std::string rootfs_override;  // boot this rootfs file instead of the image's
  std::string extra_cmdline;    // appended (later words win in /init)
  std::string runtime_disk;     // ext4 image for /var (serial clawos-runtime)
  std::string workspace_disk;   // ext4 image for /workspace (serial clawos-workspace)
  bool omit_hash_disk = false;  // to test the missing-disk path
};

class QemuGuest {
 public:
  static absl::StatusOr<std::unique_ptr<QemuGuest>> Start(const GuestOptions& options);
  ~QemuGuest();

  // Connects to the agent channel and does the handshake (Hello → Welcome → Ready).
  absl::StatusOr<std::unique_ptr<launcher::AgentClient>> ConnectAgent(absl::Duration timeout);
  // Runs a command in the guest: its stdout, or the error / a non-zero exit.
  absl::StatusOr<std::string> Exec(launcher::AgentClient& agent, std::vector<std::string> argv);
  // Waits for QEMU to exit; its exit code, or DEADLINE_EXCEEDED.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  std::string Console() const;
  absl::StatusOr<launcher::QmpClient> Qmp();

 private:
  QemuGuest() = default;
  bool Exited();
  pid_t pid_ = -1;
  bool exited_ = false;
  std::string console_path_;
  std::string socket_path_;
  std::string qmp_path_;
};

}  // namespace clawos::testing
