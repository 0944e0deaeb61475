// Test helper: boots a built guest image under QEMU microvm (TCG here; KVM
// when CLAWOS_TEST_ACCEL=kvm) with its disks found by serial, the console in a
// file and the agent channel on a unix socket. The launcher's VMM layer
// (issue 4) supersedes this for production.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "image/manifest.h"

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

// The host's TSC frequency in kHz for tsc_early_khz= (TCG guests hang without it).
int64_t HostTscKhz();

class QemuGuest {
 public:
  static absl::StatusOr<std::unique_ptr<QemuGuest>> Start(const GuestOptions& options);
  ~QemuGuest();

  // Connects to the agent channel (retrying) and reads one line.
  absl::StatusOr<std::string> ReadLine(absl::Duration timeout);
  absl::Status Send(const std::string& line);
  // Waits for QEMU to exit; its exit code, or DEADLINE_EXCEEDED.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  std::string Console() const;

 private:
  QemuGuest() = default;
  absl::Status Connect(absl::Duration timeout);
  pid_t pid_ = -1;
  int fd_ = -1;
  bool exited_ = false;
  std::string console_path_;
  std::string socket_path_;
  std::string pending_;
};

}  // namespace clawos::testing
