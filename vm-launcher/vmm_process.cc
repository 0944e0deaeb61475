#include "vm-launcher/vmm_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/process.h"
#include "common/status.h"
#include "common/unix_socket.h"
#include "vm-launcher/qmp_client.h"

namespace clawos::launcher {

uint64_t ProcessStartTime(pid_t pid) {
  std::ifstream f(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!std::getline(f, line)) return 0;
  size_t close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<std::string> fields = absl::StrSplit(line.substr(close + 2), ' ');
  // fields[0] is field 3 (state); field 22 is fields[19].
  if (fields.size() < 20 || fields[0] == "Z") return 0;
  return std::strtoull(fields[19].c_str(), nullptr, 10);
}

bool IsSameProcess(pid_t pid, uint64_t start_time) {
  return pid > 0 && start_time != 0 && ProcessStartTime(pid) == start_time;
}

absl::Status CreateExt4Disk(const std::string& path, int64_t size_mib) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("creating disk ", path));
  int rc = ::ftruncate(fd, static_cast<off_t>(size_mib) << 20);
  int err = errno;
  ::close(fd);
  if (rc != 0) {
    ::unlink(path.c_str());
    return ErrnoStatus(err, absl::StrCat("sizing disk ", path));
  }
  auto made = RunChecked({"mkfs.ext4", "-q", "-F", "-m", "0", "-E", "nodiscard", path});
  if (!made.ok()) {
    ::unlink(path.c_str());
    return Annotate(made.status(), absl::StrCat("formatting ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<VmmProcess>> VmmProcess::Launch(const QemuConfig& config,
                                                               const VmCgroup& cgroup,
                                                               const std::string& log_path) {
  RETURN_IF_ERROR(ValidateQemuConfig(config));
  for (const std::string* sock : {&config.agent_socket, &config.qmp_socket})
    ::unlink(sock->c_str());
  std::unique_ptr<VmmProcess> p(new VmmProcess);
  p->config_ = config;
  ASSIGN_OR_RETURN(p->pid_, SpawnWithLog(QemuArgv(config), {}, log_path));
  p->child_ = true;
  if (auto s = cgroup.AddProcess(p->pid_); !s.ok()) {
    ::kill(p->pid_, SIGKILL);
    return Annotate(s, "placing QEMU in its cgroup");
  }
  p->start_time_ = ProcessStartTime(p->pid_);
  return p;
}

absl::StatusOr<std::unique_ptr<VmmProcess>> VmmProcess::Adopt(pid_t pid, uint64_t start_time,
                                                              const QemuConfig& config) {
  if (!IsSameProcess(pid, start_time)) {
    return absl::NotFoundError(absl::StrCat("VMM process ", pid, " is gone"));
  }
  std::unique_ptr<VmmProcess> p(new VmmProcess);
  p->config_ = config;
  p->pid_ = pid;
  p->start_time_ = start_time;
  return p;
}

VmmProcess::~VmmProcess() {
  if (agent_fd_ >= 0) ::close(agent_fd_);
  if (child_) ::waitpid(pid_, nullptr, WNOHANG);  // reap it if it already exited
}

bool VmmProcess::Running() {
  if (child_) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      child_ = false;
      start_time_ = 0;
      return false;
    }
  }
  return IsSameProcess(pid_, start_time_);
}

std::string VmmProcess::ConsoleTail() const {
  std::string c = ReadFile(config_.console_log).value_or("");
  if (c.size() > 600) c = c.substr(c.size() - 600);
  return c;
}

absl::Status VmmProcess::ConnectAgent(absl::Time deadline) {
  while (absl::Now() < deadline) {
    auto fd = ConnectUnixSocket(config_.agent_socket);
    if (fd.ok()) {
      agent_fd_ = *fd;
      return absl::OkStatus();
    }
    if (fd.status().code() == absl::StatusCode::kInvalidArgument) return fd.status();
    if (!Running())
      return absl::FailedPreconditionError("QEMU exited before the agent channel opened");
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError("the agent channel never opened");
}

absl::StatusOr<std::string> VmmProcess::WaitReady(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  if (agent_fd_ < 0) RETURN_IF_ERROR(ConnectAgent(deadline));
  while (true) {
    size_t nl = pending_.find('\n');
    if (nl != std::string::npos) {
      std::string line = pending_.substr(0, nl);
      pending_.erase(0, nl + 1);
      if (line.rfind("READY ", 0) == 0) return line;
      if (line.rfind("FAILED ", 0) == 0) {
        return absl::FailedPreconditionError(
            absl::StrCat("the guest agent failed: ", line.substr(7)));
      }
      continue;
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("the guest agent did not report ready in ",
                                                      absl::FormatDuration(timeout), "; console:\n",
                                                      ConsoleTail()));
    }
    pollfd p{agent_fd_, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) {
      if (!Running()) {
        return absl::FailedPreconditionError(
            absl::StrCat("the VM stopped during boot; console:\n", ConsoleTail()));
      }
      continue;
    }
    char buf[512];
    ssize_t n = ::read(agent_fd_, buf, sizeof(buf));
    if (n <= 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("the agent channel closed during boot; console:\n", ConsoleTail()));
    }
    pending_.append(buf, static_cast<size_t>(n));
  }
}

absl::Status VmmProcess::Stop(absl::Duration grace) {
  auto wait_gone = [this](absl::Duration d) {
    absl::Time until = absl::Now() + d;
    while (absl::Now() < until) {
      if (!Running()) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return !Running();
  };
  if (!Running()) return absl::OkStatus();
  // 1. Ask the guest to power off (it syncs its disks first).
  if (agent_fd_ < 0) ConnectAgent(absl::Now() + absl::Seconds(1)).IgnoreError();
  if (agent_fd_ >= 0 && ::write(agent_fd_, "POWEROFF\n", 9) == 9 && wait_gone(grace)) {
    return absl::OkStatus();
  }
  // 2. Tell QEMU to quit.
  if (auto qmp = QmpClient::Connect(config_.qmp_socket, absl::Seconds(2)); qmp.ok()) {
    qmp->Execute("quit", nullptr, absl::Seconds(2)).IgnoreError();
    if (wait_gone(absl::Seconds(5))) return absl::OkStatus();
  }
  // 3. Kill it.
  ::kill(pid_, SIGKILL);
  if (wait_gone(absl::Seconds(5))) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("QEMU (pid ", pid_, ") did not exit after SIGKILL"));
}

}  // namespace clawos::launcher
