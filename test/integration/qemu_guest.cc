#include "test/integration/qemu_guest.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/process.h"
#include "common/status.h"
#include "vm-launcher/agent_ops.h"
#include "vm-launcher/guest_config.h"

namespace clawos::testing {

absl::StatusOr<std::unique_ptr<QemuGuest>> QemuGuest::Start(const GuestOptions& o) {
  ASSIGN_OR_RETURN(image::Manifest m, image::ReadManifest(o.image_dir));
  std::unique_ptr<QemuGuest> g(new QemuGuest);
  g->console_path_ = o.work_dir + "/console.log";
  g->socket_path_ = o.work_dir + "/agent.sock";
  g->qmp_path_ = o.work_dir + "/qmp.sock";
  const char* accel_env = std::getenv("CLAWOS_TEST_ACCEL");
  launcher::QemuConfig c =
      launcher::GuestQemuConfig(m, {o.image_dir, o.work_dir, o.runtime_disk, o.workspace_disk}, 1,
                                256, accel_env && std::string(accel_env) == "kvm" ? "kvm" : "tcg");
  if (!o.extra_cmdline.empty()) c.cmdline += " " + o.extra_cmdline;
  if (!o.rootfs_override.empty()) c.disks[0].path = o.rootfs_override;
  if (o.omit_hash_disk) c.disks.erase(c.disks.begin() + 1);
  RETURN_IF_ERROR(launcher::ValidateQemuConfig(c));
  std::vector<std::string> argv = launcher::QemuArgv(c);
  ASSIGN_OR_RETURN(g->pid_, SpawnWithLog(argv, {}, o.work_dir + "/qemu.log"));
  return g;
}

QemuGuest::~QemuGuest() {
  if (pid_ > 0 && !exited_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

bool QemuGuest::Exited() {
  int status = 0;
  if (!exited_ && waitpid(pid_, &status, WNOHANG) == pid_) exited_ = true;
  return exited_;
}

absl::StatusOr<std::unique_ptr<launcher::AgentClient>> QemuGuest::ConnectAgent(
    absl::Duration timeout) {
  launcher::AgentClient::Options o;
  o.vm = "vms/boot-test";
  return launcher::AgentClient::Connect(socket_path_, o, absl::Now() + timeout,
                                        [this] { return !Exited(); });
}

absl::StatusOr<std::string> QemuGuest::Exec(launcher::AgentClient& agent,
                                            std::vector<std::string> argv) {
  ASSIGN_OR_RETURN(auto r, launcher::ExecCollect(agent, argv, absl::Now() + absl::Seconds(60)));
  if (r.exit.exit_code() != 0) {
    return absl::InternalError(absl::StrCat(argv[0], " exited ", r.exit.exit_code(), ": ", r.err));
  }
  return r.out;
}

absl::StatusOr<int> QemuGuest::Wait(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      return ExitCodeOf(status);
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError("QEMU did not exit in time");
}

absl::StatusOr<launcher::QmpClient> QemuGuest::Qmp() {
  return launcher::QmpClient::Connect(qmp_path_, absl::Seconds(10));
}

std::string QemuGuest::Console() const { return ReadFile(console_path_).value_or(""); }

}  // namespace clawos::testing
