#include "vm-launcher/qemu_vmm.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/process.h"
#include "common/status.h"
#include "common/utf8.h"
#include "vm-launcher/qemu_snapshot.h"
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

namespace {

// Runs clawos-jailer (inside the cgroup, as QEMU must be from its first
// instruction) and waits for it: it exits once QEMU executed in the jail.
// Returns QEMU's pid.
absl::StatusOr<pid_t> SpawnJailed(const JailLaunch& jail,
                                  const std::vector<std::string>& cgroup_procs,
                                  const std::string& log_path, const std::vector<int>& pass_fds) {
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
    return ErrnoStatus(errno, "becoming a child subreaper");
  }
  ::unlink(jail.spec.pid_file.c_str());
  std::vector<std::string> argv = {jail.jailer};
  for (std::string& a : jail::JailArgs(jail.spec)) argv.push_back(std::move(a));
  ASSIGN_OR_RETURN(pid_t jailer, SpawnWithLog(argv, {}, log_path, cgroup_procs, pass_fds));
  int status = 0;
  const absl::Time until = absl::Now() + absl::Seconds(30);
  while (::waitpid(jailer, &status, WNOHANG) == 0) {
    if (absl::Now() >= until) {
      ::kill(jailer, SIGKILL);
      ::waitpid(jailer, &status, 0);
      return absl::DeadlineExceededError("clawos-jailer did not finish within 30 s");
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
  if (ExitCodeOf(status) != 0) {
    auto err = ReadFileTail(log_path, 1024);
    std::string why = err.ok() ? std::string(absl::StripAsciiWhitespace(*err)) : "";
    if (size_t nl = why.rfind('\n'); nl != std::string::npos) why = why.substr(nl + 1);
    return absl::FailedPreconditionError(absl::StrCat(
        "jailing the VMM failed (exit ", ExitCodeOf(status), "): ", ToSafeText(why, 600)));
  }
  ASSIGN_OR_RETURN(std::string pid_text, ReadFile(jail.spec.pid_file, 64));
  int pid = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(pid_text), &pid) || pid <= 1) {
    return absl::InternalError(absl::StrCat("bad pid file ", jail.spec.pid_file));
  }
  return static_cast<pid_t>(pid);
}

}  // namespace

absl::StatusOr<std::unique_ptr<QemuVmm>> QemuVmm::Launch(
    const QemuConfig& config, const std::vector<std::string>& cgroup_procs,
    const std::string& log_path, const JailLaunch* jail, const std::vector<int>& pass_fds) {
  RETURN_IF_ERROR(ValidateQemuConfig(config));
  for (const std::string* sock : {&config.agent_socket, &config.qmp_socket})
    ::unlink(sock->c_str());
  std::unique_ptr<QemuVmm> p(new QemuVmm);
  p->config_ = config;
  p->log_path_ = log_path;
  if (jail) {
    ASSIGN_OR_RETURN(p->pid_, SpawnJailed(*jail, cgroup_procs, log_path, pass_fds));
  } else {
    // QEMU joins its cgroup before it executes: limited, and watched by the
    // monitor, from its first instruction.
    ASSIGN_OR_RETURN(p->pid_, SpawnWithLog(QemuArgv(config), {}, log_path, cgroup_procs, pass_fds));
  }
  p->child_ = true;
  p->start_time_ = ProcessStartTime(p->pid_);
  return p;
}

absl::StatusOr<std::unique_ptr<QemuVmm>> QemuVmm::Adopt(pid_t pid, uint64_t start_time,
                                                        const QemuConfig& config,
                                                        const std::string& log_path) {
  if (!IsSameProcess(pid, start_time)) {
    return absl::NotFoundError(absl::StrCat("VMM process ", pid, " is gone"));
  }
  std::unique_ptr<QemuVmm> p(new QemuVmm);
  p->config_ = config;
  p->log_path_ = log_path;
  p->pid_ = pid;
  p->start_time_ = start_time;
  return p;
}

absl::Status QemuVmm::SaveState(int fd) {
  ASSIGN_OR_RETURN(QmpClient qmp, QmpClient::Connect(config_.qmp_socket, absl::Seconds(5)));
  return SaveDeviceState(qmp, fd, absl::Seconds(60));
}

QemuVmm::~QemuVmm() {
  if (child_) ::waitpid(pid_, nullptr, WNOHANG);  // reap it if it already exited
}

bool QemuVmm::Running() {
  std::lock_guard lock(mu_);
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

std::string QemuVmm::ConsoleTail() const {
  // Only the end is read, however large the file; the guest wrote it, so it
  // becomes safe text (it goes into a proto string and onto terminals).
  constexpr off_t kTail = 600;
  int fd = ::open(config_.console_log.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string c;
  struct stat st {};
  if (::fstat(fd, &st) == 0) {
    off_t from = std::max<off_t>(0, st.st_size - kTail);
    c.resize(static_cast<size_t>(st.st_size - from));
    ssize_t n = ::pread(fd, c.data(), c.size(), from);
    c.resize(n > 0 ? static_cast<size_t>(n) : 0);
  }
  ::close(fd);
  return ToSafeText(c, kTail);
}

std::string QemuVmm::ExitMessage() const {
  auto tail = ReadFileTail(log_path_, 400);
  if (!tail.ok()) return "";
  return ToSafeText(std::string(absl::StripAsciiWhitespace(*tail)), 400);
}

bool QemuVmm::WaitExit(absl::Duration timeout) {
  absl::Time until = absl::Now() + timeout;
  while (Running()) {
    if (absl::Now() >= until) return false;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return true;
}

absl::Status QemuVmm::Kill() {
  if (!Running()) return absl::OkStatus();
  ::kill(pid_, SIGKILL);
  if (WaitExit(absl::Seconds(5))) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("QEMU (pid ", pid_, ") did not exit after SIGKILL"));
}

absl::Status QemuVmm::Stop(absl::Duration grace) {
  if (WaitExit(grace)) return absl::OkStatus();
  // Tell QEMU to quit.
  if (auto qmp = QmpClient::Connect(config_.qmp_socket, absl::Seconds(2)); qmp.ok()) {
    qmp->Execute("quit", nullptr, absl::Seconds(2)).IgnoreError();
    if (WaitExit(absl::Seconds(5))) return absl::OkStatus();
  }
  return Kill();
}

}  // namespace clawos::launcher
