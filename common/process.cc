#include "common/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/files.h"

extern char** environ;

namespace clawos {
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

}  // namespace

int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

namespace {

// `name` as execve() needs it: as given when it has a '/', else found on PATH.
std::string ResolveProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = getenv("PATH");
  for (const auto& dir : absl::StrSplit(path ? path : "/usr/bin:/bin", ':')) {
    std::string candidate = absl::StrCat(std::string(dir), "/", name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return name;
}

// fork + exec, the child joining `cgroups` first. Only async-signal-safe
// calls between fork and exec; everything is prepared before the fork. A
// close-on-exec pipe reports back: nothing (it closed at the exec) means the
// child runs `argv` inside the cgroups; otherwise which step failed, and why.
absl::StatusOr<pid_t> ForkIntoCgroups(std::vector<std::string> argv,
                                      const std::map<std::string, std::string>& env, int log_fd,
                                      const std::vector<std::string>& cgroups,
                                      const std::vector<int>& pass_fds) {
  std::string program = ResolveProgram(argv[0]);
  auto envs = MergedEnv(env);
  auto cargv = CStrings(argv);
  auto cenv = CStrings(envs);
  std::vector<const char*> procs;
  for (const auto& c : cgroups) procs.push_back(c.c_str());
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) return ErrnoStatus(errno, "creating a pipe");
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(report[0]);
    close(report[1]);
    return ErrnoStatus(e, absl::StrCat("starting ", argv[0]));
  }
  if (pid == 0) {
    close(report[0]);
    // The report pipe too goes above the descriptors passed on.
    const int n = static_cast<int>(pass_fds.size());
    int rep = fcntl(report[1], F_DUPFD_CLOEXEC, 3 + n);
    if (rep < 0) _exit(124);  // never write a report into a descriptor passed on
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull >= 0) dup2(devnull, 0);  // the dup has no close-on-exec
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    // Out of the way of 3, 4, ... first, then into place (dup2 clears close-on-exec).
    int moved[16];
    for (int i = 0; i < n && i < 16; ++i) moved[i] = fcntl(pass_fds[i], F_DUPFD_CLOEXEC, 3 + n);
    for (int i = 0; i < n && i < 16; ++i) {
      if (moved[i] < 0 || dup2(moved[i], 3 + i) < 0) {
        int failure[2] = {-2, errno};
        (void)!write(rep, failure, sizeof(failure));
        _exit(125);
      }
    }
    for (size_t i = 0; i < procs.size(); ++i) {
      int fd = open(procs[i], O_WRONLY | O_CLOEXEC);
      if (fd < 0 || write(fd, "0", 1) != 1) {
        int failure[2] = {static_cast<int>(i), errno};
        (void)!write(rep, failure, sizeof(failure));
        _exit(126);
      }
      close(fd);
    }
    execve(program.c_str(), cargv.data(), cenv.data());
    int failure[2] = {-1, errno};
    (void)!write(rep, failure, sizeof(failure));
    _exit(127);
  }
  close(report[1]);
  int failure[2] = {0, 0};
  ssize_t n;
  do {
    n = read(report[0], failure, sizeof(failure));
  } while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n <= 0) return pid;  // exec'd inside the cgroups
  waitpid(pid, nullptr, 0);
  if (failure[0] == -2) return ErrnoStatus(failure[1], "passing descriptors to the child");
  if (failure[0] < 0) return ErrnoStatus(failure[1], absl::StrCat("executing ", program));
  return ErrnoStatus(failure[1], absl::StrCat("joining ", cgroups[failure[0]], " before exec"));
}

}  // namespace

absl::StatusOr<pid_t> SpawnWithLog(const std::vector<std::string>& argv_in,
                                   const std::map<std::string, std::string>& env,
                                   const std::string& log_path,
                                   const std::vector<std::string>& join_cgroups,
                                   const std::vector<int>& pass_fds) {
  if (argv_in.empty()) return absl::InvalidArgumentError("empty command");
  if (pass_fds.size() > 16) return absl::InvalidArgumentError("more than 16 descriptors to pass");
  int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("opening ", log_path));
  if (!join_cgroups.empty() || !pass_fds.empty()) {
    auto pid = ForkIntoCgroups(argv_in, env, fd, join_cgroups, pass_fds);
    close(fd);
    return pid;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fd, 1);
  posix_spawn_file_actions_adddup2(&fa, fd, 2);
  std::vector<std::string> argv = argv_in;
  auto envs = MergedEnv(env);
  auto cargv = CStrings(argv);
  auto cenv = CStrings(envs);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, cargv[0], &fa, nullptr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  close(fd);
  if (rc != 0) return ErrnoStatus(rc, absl::StrCat("starting ", argv[0]));
  return pid;
}

absl::StatusOr<pid_t> SpawnDaemon(const std::vector<std::string>& argv_in,
                                  const std::map<std::string, std::string>& env,
                                  const std::string& log_path) {
  if (argv_in.empty()) return absl::InvalidArgumentError("empty command");
  int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("opening ", log_path));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fd, 1);
  posix_spawn_file_actions_adddup2(&fa, fd, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD, SIGQUIT}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<std::string> argv = argv_in;
  auto envs = MergedEnv(env);
  auto cargv = CStrings(argv);
  auto cenv = CStrings(envs);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, cargv[0], &fa, &attr, cargv.data(), cenv.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  close(fd);
  if (rc != 0) return ErrnoStatus(rc, absl::StrCat("starting ", argv[0]));
  return pid;
}

absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& argv_in,
                                         const ProcessOptions& options) {
  if (argv_in.empty()) return absl::InvalidArgumentError("empty command");
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
    return ErrnoStatus(errno, "creating pipes");
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  if (!options.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, options.cwd.c_str());
  std::vector<std::string> argv = argv_in;
  auto envs = MergedEnv(options.env);
  auto cargv = CStrings(argv);
  auto cenv = CStrings(envs);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, cargv[0], &fa, nullptr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    close(in[1]);
    close(out[0]);
    close(err[0]);
    return ErrnoStatus(rc, absl::StrCat("starting ", argv[0]));
  }
  signal(SIGPIPE, SIG_IGN);
  ProcessResult r;
  size_t written = 0;
  int in_fd = in[1];
  // Non-blocking: a large stdin must not block us while the child waits for
  // us to drain its stdout.
  fcntl(in_fd, F_SETFL, fcntl(in_fd, F_GETFL) | O_NONBLOCK);
  if (options.stdin_data.empty()) {
    close(in_fd);
    in_fd = -1;
  }
  absl::Time deadline = absl::Now() + options.timeout;
  bool out_open = true, err_open = true;
  while ((out_open || err_open) && absl::Now() < deadline) {
    pollfd fds[3];
    int n = 0;
    if (out_open) fds[n++] = {out[0], POLLIN, 0};
    if (err_open) fds[n++] = {err[0], POLLIN, 0};
    if (in_fd >= 0) fds[n++] = {in_fd, POLLOUT, 0};
    if (poll(fds, n, 100) <= 0) continue;
    for (int i = 0; i < n; ++i) {
      if (!fds[i].revents) continue;
      if (fds[i].fd == in_fd) {
        ssize_t w =
            write(in_fd, options.stdin_data.data() + written, options.stdin_data.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == options.stdin_data.size()) {
          close(in_fd);
          in_fd = -1;
        }
        continue;
      }
      char buf[65536];
      ssize_t got = read(fds[i].fd, buf, sizeof(buf));
      std::string& dst = fds[i].fd == out[0] ? r.out : r.err;
      if (got > 0) {
        dst.append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        (fds[i].fd == out[0] ? out_open : err_open) = false;
      }
    }
  }
  if (in_fd >= 0) close(in_fd);
  close(out[0]);
  close(err[0]);
  r.timed_out = out_open || err_open;
  if (r.timed_out) kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = ExitCodeOf(status);
  return r;
}

absl::StatusOr<std::string> RunChecked(const std::vector<std::string>& argv,
                                       const ProcessOptions& options) {
  auto r = RunProcess(argv, options);
  if (!r.ok()) return r.status();
  if (r->timed_out) {
    return absl::DeadlineExceededError(absl::StrCat("`", absl::StrJoin(argv, " "), "` timed out"));
  }
  if (r->exit_code != 0) {
    std::string tail = r->err.size() > 800 ? r->err.substr(r->err.size() - 800) : r->err;
    while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ')) tail.pop_back();
    return absl::InternalError(
        absl::StrCat("`", argv[0], "` exited with ", r->exit_code, tail.empty() ? "" : ": ", tail));
  }
  return std::move(r->out);
}

}  // namespace clawos
