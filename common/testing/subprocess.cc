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

extern char** environ;

namespace clawos::testing {
namespace {

std::vector<std::string> MergedEnv(const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> all;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    size_t eq = kv.find('=');
    if (eq != std::string::npos) all[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : extra) {
    if (v.empty()) {
      all.erase(k);
    } else {
      all[k] = v;
    }
  }
  std::vector<std::string> out;
  for (const auto& [k, v] : all) out.push_back(k + "=" + v);
  return out;
}

std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

RunResult RunCommand(const std::vector<std::string>& argv_in, const std::string& stdin_data,
                     const std::map<std::string, std::string>& env, absl::Duration timeout) {
  RunResult r;
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) return r;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  std::vector<std::string> argv = argv_in;
  auto envs = MergedEnv(env);
  auto cargv = CStrings(argv);
  auto cenv = CStrings(envs);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    close(in[1]);
    close(out[0]);
    close(err[0]);
    r.err = "spawn failed: " + argv[0];
    return r;
  }
  signal(SIGPIPE, SIG_IGN);
  size_t written = 0;
  if (stdin_data.empty()) {
    close(in[1]);
    in[1] = -1;
  }
  absl::Time deadline = absl::Now() + timeout;
  bool out_open = true, err_open = true;
  while ((out_open || err_open) && absl::Now() < deadline) {
    pollfd fds[3];
    int n = 0;
    if (out_open) fds[n++] = {out[0], POLLIN, 0};
    if (err_open) fds[n++] = {err[0], POLLIN, 0};
    if (in[1] >= 0) fds[n++] = {in[1], POLLOUT, 0};
    if (poll(fds, n, 100) <= 0) continue;
    for (int i = 0; i < n; ++i) {
      if (!fds[i].revents) continue;
      if (fds[i].fd == in[1]) {
        ssize_t w = write(in[1], stdin_data.data() + written, stdin_data.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if (w < 0 || written == stdin_data.size()) {
          close(in[1]);
          in[1] = -1;
        }
        continue;
      }
      char buf[4096];
      ssize_t got = read(fds[i].fd, buf, sizeof(buf));
      std::string& dst = fds[i].fd == out[0] ? r.out : r.err;
      if (got > 0) {
        dst.append(buf, static_cast<size_t>(got));
      } else {
        (fds[i].fd == out[0] ? out_open : err_open) = false;
      }
    }
  }
  if (in[1] >= 0) close(in[1]);
  close(out[0]);
  close(err[0]);
  if (out_open || err_open) kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = (out_open || err_open) ? -1 : DecodeStatus(status);
  return r;
}

Daemon::Daemon(const std::vector<std::string>& argv_in, const std::string& log_path,
               const std::map<std::string, std::string>& env)
    : log_path_(log_path) {
  int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fd, 1);
  posix_spawn_file_actions_adddup2(&fa, fd, 2);
  std::vector<std::string> argv = argv_in;
  auto envs = MergedEnv(env);
  auto cargv = CStrings(argv);
  auto cenv = CStrings(envs);
  if (posix_spawn(&pid_, cargv[0], &fa, nullptr, cargv.data(), cenv.data()) != 0) pid_ = -1;
  posix_spawn_file_actions_destroy(&fa);
  close(fd);
}

Daemon::~Daemon() {
  if (Running()) Stop(SIGKILL);
}

bool Daemon::Running() {
  if (pid_ <= 0 || status_ != -1) return false;
  int st = 0;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = DecodeStatus(st);
    return false;
  }
  return r == 0;
}

bool Daemon::WaitForFile(const std::string& path, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  struct stat st {};
  while (absl::Now() < deadline) {
    if (stat(path.c_str(), &st) == 0) return true;
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
  status_ = DecodeStatus(st);
  return status_;
}

std::string Daemon::Log() const {
  std::ifstream f(log_path_);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace clawos::testing
