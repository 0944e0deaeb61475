// QEMU as the launcher's VmmBackend (vmm.h): a VmmRequest becomes QEMU's
// configuration (guest_config.h), jailed (vmm_jail.h) when the request has a
// jail uid, and a QemuVmm. With the jail on, Create finds clawos-jailer and
// what QEMU needs inside the jail once, at start-up. Templates: a VM is
// restored from one by mapping its RAM (VmmRequest::ram_fd) and loading its
// device state over QMP (qemu_snapshot.h).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "vm-launcher/vmm.h"
#include "vm-launcher/vmm_jail.h"

namespace clawos::launcher {

class QemuVmm;

struct QemuBackendOptions {
  std::string accel = "tcg";
  bool jail = true;
  std::string jailer;  // clawos-jailer; empty: beside this program
};

class QemuBackend : public VmmBackend {
 public:
  // FAILED_PRECONDITION when jailing cannot work here (not root, no jailer).
  // QEMU missing is not an error here: each start then fails saying so.
  static absl::StatusOr<std::unique_ptr<QemuBackend>> Create(QemuBackendOptions options);

  // "qemu-system-x86_64 sha256:<binary's> accel=<a>[ tsc_khz=<n>]"; "" when
  // QEMU was not found.
  // Computed again when the binary's file changed (an upgrade in place).
  std::string Identity() const override;
  absl::StatusOr<std::unique_ptr<Vmm>> Launch(const VmmRequest& request) override;
  absl::StatusOr<std::unique_ptr<Vmm>> Adopt(pid_t pid, uint64_t start_time,
                                             const std::string& vm_dir,
                                             const std::string& run_dir) override;

 private:
  // Feeds a VMM started paused its device state and resumes it; kills it on failure.
  static absl::Status Restore(QemuVmm& vmm, int state_fd);
  explicit QemuBackend(QemuBackendOptions o) : options_(std::move(o)) {}
  QemuBackendOptions options_;
  absl::StatusOr<QemuRuntime> runtime_ = absl::UnknownError("not looked for");
  mutable std::mutex identity_mu_;
  mutable std::string identity_;
  mutable std::string identity_of_;  // the binary's stat fingerprint it was computed for
};

}  // namespace clawos::launcher
