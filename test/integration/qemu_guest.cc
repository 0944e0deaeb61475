#include "test/integration/qemu_guest.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/process.h"
#include "common/status.h"
#include "common/unix_socket.h"
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
  if (fd_ >= 0) close(fd_);
  if (pid_ > 0 && !exited_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

absl::Status QemuGuest::Connect(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (auto fd = ConnectUnixSocket(socket_path_); fd.ok()) {
      fd_ = *fd;
      return absl::OkStatus();
    } else if (fd.status().code() == absl::StatusCode::kInvalidArgument) {
      return fd.status();
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      return absl::FailedPreconditionError(absl::StrCat("QEMU exited (", ExitCodeOf(status), ")"));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError("agent socket never accepted");
}

absl::StatusOr<std::string> QemuGuest::ReadLine(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  if (fd_ < 0) RETURN_IF_ERROR(Connect(timeout));
  while (true) {
    size_t nl = pending_.find('\n');
    if (nl != std::string::npos) {
      std::string line = pending_.substr(0, nl);
      pending_.erase(0, nl + 1);
      return line;
    }
    int left = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (left <= 0) return absl::DeadlineExceededError("no line from the agent in time");
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, std::min(left, 200)) <= 0) continue;
    char buf[512];
    ssize_t n = read(fd_, buf, sizeof(buf));
    if (n <= 0) return absl::UnavailableError("agent channel closed");
    pending_.append(buf, static_cast<size_t>(n));
  }
}

absl::Status QemuGuest::Send(const std::string& line) {
  if (fd_ < 0) RETURN_IF_ERROR(Connect(absl::Seconds(30)));
  std::string l = line + "\n";
  if (write(fd_, l.data(), l.size()) != static_cast<ssize_t>(l.size())) {
    return absl::UnavailableError("write to the agent channel failed");
  }
  return absl::OkStatus();
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
