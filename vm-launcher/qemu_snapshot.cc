#include "vm-launcher/qemu_snapshot.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"

namespace clawos::launcher {
namespace {

constexpr char kStateFd[] = "clawos-state";

absl::Status IgnoreSharedRam(QmpClient& qmp) {
  return qmp
      .Execute("migrate-set-capabilities",
               {{"capabilities", {{{"capability", "x-ignore-shared"}, {"state", true}}}}})
      .status();
}

// Polls query-migrate until the migration (either way) completed or failed.
absl::Status AwaitMigration(QmpClient& qmp, absl::Time deadline, const char* what) {
  for (;;) {
    ASSIGN_OR_RETURN(nlohmann::json m, qmp.Execute("query-migrate"));
    std::string status = m.value("status", "none");
    if (status == "completed") return absl::OkStatus();
    if (status == "failed" || status == "cancelled") {
      return absl::InternalError(
          absl::StrCat(what, " failed: ", m.value("error-desc", "QEMU gave no reason")));
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(what, " did not finish in time"));
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
}

}  // namespace

absl::Status SaveDeviceState(QmpClient& qmp, int fd, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  RETURN_IF_ERROR(qmp.Execute("stop").status());
  RETURN_IF_ERROR(IgnoreSharedRam(qmp));
  RETURN_IF_ERROR(qmp.SendFd(kStateFd, fd));
  RETURN_IF_ERROR(qmp.Execute("migrate", {{"uri", absl::StrCat("fd:", kStateFd)}}).status());
  return AwaitMigration(qmp, deadline, "saving the device state");
}

absl::Status LoadDeviceState(QmpClient& qmp, int fd, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  RETURN_IF_ERROR(IgnoreSharedRam(qmp));
  RETURN_IF_ERROR(qmp.SendFd(kStateFd, fd));
  RETURN_IF_ERROR(
      qmp.Execute("migrate-incoming", {{"uri", absl::StrCat("fd:", kStateFd)}}).status());
  RETURN_IF_ERROR(AwaitMigration(qmp, deadline, "restoring the device state"));
  // The template was paused when saved, so the restored guest is too.
  return qmp.Execute("cont").status();
}

}  // namespace clawos::launcher
