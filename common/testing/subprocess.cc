#include "common/testing/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "absl/time/clock.h"
#include "common/process.h"
#include "common/unix_socket.h"

namespace clawos::testing {
namespace {

// A unix socket someone listens on (a stale one refuses the connection).
bool Accepts(const std::string& path) {
  auto fd = ConnectUnixSocket(path);
  if (!fd.ok()) return false;
  ::close(*fd);
  return true;
}

}  // namespace

RunResult RunCommand(const std::vector<std::string>& argv, const std::string& stdin_data,
                     const std::map<std::string, std::string>& env, absl::Duration timeout) {
  RunResult r;
  auto p = RunProcess(argv, {stdin_data, env, timeout, ""});
  if (!p.ok()) {
    r.err = std::string(p.status().message());
    return r;
  }
  r.exit_code = p->timed_out ? -1 : p->exit_code;
  r.out = std::move(p->out);
  r.err = std::move(p->err);
  return r;
}

Daemon::Daemon(const std::vector<std::string>& argv, const std::string& log_path,
               const std::map<std::string, std::string>& env)
    : log_path_(log_path) {
  auto pid = SpawnWithLog(argv, env, log_path);
  pid_ = pid.ok() ? *pid : -1;
}

Daemon::~Daemon() {
  if (Running()) Stop(SIGKILL);
}

bool Daemon::Running() {
  if (pid_ <= 0 || status_ != -1) return false;
  int st = 0;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = ExitCodeOf(st);
    return false;
  }
  return r == 0;
}

bool Daemon::WaitForFile(const std::string& path, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  struct stat st {};
  while (absl::Now() < deadline) {
    if (stat(path.c_str(), &st) == 0 && (!S_ISSOCK(st.st_mode) || Accepts(path))) return true;
    if (!Running()) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

bool Daemon::WaitForLog(const std::string& needle, size_t from, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    std::string log = Log();
    if (log.size() > from && log.find(needle, from) != std::string::npos) return true;
    if (!Running()) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

int Daemon::Stop(int sig) {
  if (status_ != -1) return status_;
  if (pid_ <= 0) return -1;
  kill(pid_, sig);
  int st = 0;
  waitpid(pid_, &st, 0);
  status_ = ExitCodeOf(st);
  return status_;
}

std::string Daemon::Log() const {
  std::ifstream f(log_path_);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace clawos::testing
