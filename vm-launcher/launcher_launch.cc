// Launcher::LaunchVm: `clawos vm start` as one call (create if missing,
// start, roll back what this call made when its caller goes away).
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "vm-launcher/launcher.h"

namespace clawos::launcher {

absl::StatusOr<Vm> Launcher::LaunchVm(const VmSpec& spec, const StartOptions& options) {
  bool created = false;
  absl::StatusOr<Vm> vm = store_->Get(spec.name);
  if (vm.ok()) {
    if (!spec.image.empty() && vm->spec.image != spec.image) {
      return absl::FailedPreconditionError(absl::StrCat("vms/", spec.name, " exists with images/",
                                                        vm->spec.image,
                                                        "; delete it to use images/", spec.image));
    }
    if (vm->state == VmState::kRunning) return vm;
  } else if (vm.status().code() == absl::StatusCode::kNotFound) {
    if (options.progress) options.progress(StartPhase::kCreating, "");
    absl::StatusOr<Vm> made = CreateVm(spec);
    // Another launch of the same name won the race: start what it made.
    if (!made.ok() && !absl::IsAlreadyExists(made.status())) return made.status();
    created = made.ok();
  } else {
    return vm.status();
  }
  absl::StatusOr<Vm> started = StartVm(spec.name, options);
  if (started.ok() || !created) return started;
  const bool gone = absl::Now() >= options.deadline || (options.cancelled && options.cancelled());
  if (gone) {
    // The caller will never learn of this VM: it goes as it came.
    if (absl::Status s = DeleteVm(spec.name, /*force=*/true); !s.ok()) {
      log::Warn("launch rollback failed", {{"vm", spec.name}, {"error", std::string(s.message())}});
    }
  }
  return started;
}

}  // namespace clawos::launcher
