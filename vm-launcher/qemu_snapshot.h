// Templates with QEMU (7.2): a template VM's RAM is a shared file mapping, so
// its snapshot is only its device state (tens of KiB), written by a migration
// with the x-ignore-shared capability. A VM is restored by starting QEMU
// paused (-incoming defer) on a private copy-on-write mapping of the same RAM
// and feeding it that state. Both run over the VMM's QMP socket; the state
// travels through a descriptor handed over with getfd.
#pragma once

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "vm-launcher/qmp_client.h"

namespace clawos::launcher {

// Pauses the guest and writes its device state to `fd` (a file); the VMM is
// left paused. The guest's RAM must be a shared mapping (QemuConfig::ram_shared).
absl::Status SaveDeviceState(QmpClient& qmp, int fd, absl::Duration timeout);

// For a VMM started with QemuConfig::incoming: reads the device state from
// `fd` and resumes the guest.
absl::Status LoadDeviceState(QmpClient& qmp, int fd, absl::Duration timeout);

}  // namespace clawos::launcher
