#include "agent/exec.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>
#include "agent/util.h"

namespace clawos::agent {
namespace {

constexpr size_t kOutputChunk = 64 << 10;

void SetNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

}  // namespace

Reaper& Reaper::Get() {
  static Reaper* r = new Reaper;
  return *r;
}

void Reaper::Start() {
  std::thread([this] { Loop(); }).detach();
}

void Reaper::Loop() {
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno != EINTR) ::usleep(50 * 1000);  // ECHILD: nothing to reap yet
      continue;
    }
    std::lock_guard lock(mu_);
    auto it = watched_.find(pid);
    if (it != watched_.end()) it->second = status;  // orphans are just reaped
  }
}

bool Reaper::TryCollect(pid_t pid, int* status) {
  std::lock_guard lock(mu_);
  auto it = watched_.find(pid);
  if (it == watched_.end() || it->second == -1) return false;
  *status = it->second;
  watched_.erase(it);
  return true;
}

ExecSession::ExecSession(uint64_t stream, pb::ExecRequest request,
                         std::map<std::string, std::string> env, Sender& out)
    : stream_(stream), request_(std::move(request)), env_(std::move(env)), out_(out) {
  for (const auto& [k, v] : request_.env()) env_[k] = v;
  env_.emplace("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
  env_.emplace("HOME", "/workspace");
}

ExecSession::~ExecSession() {
  for (int fd : {out_fd_, err_fd_, in_fd_, wake_[0], wake_[1]})
    if (fd >= 0) ::close(fd);
}

void ExecSession::Start() {
  auto self = shared_from_this();
  std::thread([self] { self->Run(); }).detach();
}

void ExecSession::Wake() {
  if (wake_[1] >= 0) (void)!::write(wake_[1], "x", 1);
}

void ExecSession::PushStdin(const pb::Chunk& chunk) {
  {
    std::lock_guard lock(mu_);
    if (!chunk.data().empty()) stdin_.push_back(chunk.data());
    if (chunk.eof()) stdin_eof_ = true;
  }
  Wake();
}

void ExecSession::Cancel() {
  cancelled_ = true;
  Signal(SIGKILL);
  Wake();
}

void ExecSession::Signal(int sig) {
  if (pid_ > 0 && !done_) ::kill(-pid_, sig);
}

bool ExecSession::Spawn(std::string* error) {
  if (request_.argv().empty()) {
    *error = "argv is empty";
    return false;
  }
  std::string cwd = request_.working_dir().empty() ? "/workspace" : request_.working_dir();
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env_) env_strings.push_back(k + "=" + v);
  std::vector<char*> argv, envp;
  for (const auto& a : request_.argv()) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  int out[2] = {-1, -1}, err[2] = {-1, -1}, in[2] = {-1, -1}, report[2] = {-1, -1};
  if (::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC) || ::pipe2(report, O_CLOEXEC) ||
      ::pipe2(wake_, O_CLOEXEC) || (request_.has_stdin() && ::pipe2(in, O_CLOEXEC))) {
    *error = std::string("pipe: ") + std::strerror(errno);
    for (int fd : {out[0], out[1], err[0], err[1], in[0], in[1], report[0], report[1]}) {
      if (fd >= 0) ::close(fd);
    }
    return false;  // wake_ is closed by the destructor
  }
  int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);  // dup2 clears CLOEXEC on the copy
  {
    std::lock_guard lock(Reaper::Get().fork_mutex());
    pid_ = ::fork();
    if (pid_ == 0) {  // the child: only async-signal-safe calls from here
      ::setsid();
      ::dup2(in[0] >= 0 ? in[0] : null, 0);
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      int stage = 0;  // 0: chdir, 1: exec
      if (::chdir(cwd.c_str()) == 0) {
        stage = 1;
        ::execvpe(argv[0], argv.data(), envp.data());
      }
      int report_msg[2] = {stage, errno};
      (void)!::write(report[1], report_msg, sizeof(report_msg));
      ::_exit(127);
    }
    if (pid_ > 0) Reaper::Get().RegisterLocked(pid_);
  }
  int fork_errno = errno;
  if (null >= 0) ::close(null);
  ::close(out[1]);
  ::close(err[1]);
  ::close(report[1]);
  if (in[0] >= 0) ::close(in[0]);
  out_fd_ = out[0];
  err_fd_ = err[0];
  in_fd_ = in[1];
  if (pid_ < 0) {
    ::close(report[0]);
    *error = std::string("fork: ") + std::strerror(fork_errno);
    return false;
  }
  int msg[2] = {0, 0};
  ssize_t n;
  do n = ::read(report[0], msg, sizeof(msg));
  while (n < 0 && errno == EINTR);
  ::close(report[0]);
  if (n == sizeof(msg)) {  // the exec did not happen
    int status;
    while (!Reaper::Get().TryCollect(pid_, &status)) ::usleep(1000);
    pid_ = -1;
    *error = msg[0] == 0 ? "working directory " + cwd + ": " + std::strerror(msg[1])
                         : "cannot run " + request_.argv(0) + ": " + std::strerror(msg[1]);
    return false;
  }
  for (int fd : {out_fd_, err_fd_, in_fd_, wake_[0]})
    if (fd >= 0) SetNonBlocking(fd);
  return true;
}

void ExecSession::Run() {
  std::string error;
  if (!Spawn(&error)) {
    out_.Send(ErrorFrame(stream_, kInvalidArgument, error));
    done_ = true;
    return;
  }
  pb::Frame f;
  f.set_stream_id(stream_);
  f.mutable_exec_started()->set_pid(pid_);
  out_.Send(f);
  Pump();
  done_ = true;
}

void ExecSession::Pump() {
  const int64_t start = NowMs();
  const int64_t timeout_ms = request_.has_timeout() ? request_.timeout().seconds() * 1000 +
                                                          request_.timeout().nanos() / 1000000
                                                    : -1;
  bool timed_out = false;
  int status = 0;
  bool exited = false;
  std::string pending_in;
  char buf[kOutputChunk];
  auto forward = [&](int& fd, bool is_err) {
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n > 0) {
        pb::Frame f;
        f.set_stream_id(stream_);
        (is_err ? f.mutable_exec_stderr() : f.mutable_exec_stdout())->set_data(buf, n);
        out_.Send(f);
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        ::close(fd);
        fd = -1;
      }
      return;
    }
  };
  int64_t exit_seen_ms = -1;
  while (out_fd_ >= 0 || err_fd_ >= 0 || !exited) {
    if (cancelled_) break;
    if (!exited && Reaper::Get().TryCollect(pid_, &status)) {
      exited = true;
      exit_seen_ms = NowMs();
    }
    // Output still held open by a background child: stop waiting a moment after the exit.
    if (exited && NowMs() - exit_seen_ms > 200) break;
    if (timeout_ms >= 0 && !timed_out && NowMs() - start > timeout_ms) {
      timed_out = true;
      ::kill(-pid_, SIGKILL);
    }
    {
      std::lock_guard lock(mu_);
      while (pending_in.empty() && !stdin_.empty()) {
        pending_in = std::move(stdin_.front());
        stdin_.pop_front();
      }
    }
    if (in_fd_ >= 0 && !pending_in.empty()) {
      ssize_t n = ::write(in_fd_, pending_in.data(), pending_in.size());
      if (n > 0) pending_in.erase(0, n);
      if (n < 0 && errno == EPIPE) {  // the command closed its stdin
        ::close(in_fd_);
        in_fd_ = -1;
      }
    }
    if (in_fd_ >= 0 && pending_in.empty()) {
      std::lock_guard lock(mu_);
      if (stdin_eof_ && stdin_.empty()) {
        ::close(in_fd_);
        in_fd_ = -1;
      }
    }
    pollfd p[4];
    int np = 0;
    if (out_fd_ >= 0) p[np++] = {out_fd_, POLLIN, 0};
    if (err_fd_ >= 0) p[np++] = {err_fd_, POLLIN, 0};
    p[np++] = {wake_[0], POLLIN, 0};
    if (in_fd_ >= 0 && !pending_in.empty()) p[np++] = {in_fd_, POLLOUT, 0};
    ::poll(p, np, 50);
    char drain[64];
    while (::read(wake_[0], drain, sizeof(drain)) > 0) {
    }
    if (out_fd_ >= 0) forward(out_fd_, false);
    if (err_fd_ >= 0) forward(err_fd_, true);
  }
  if (cancelled_) {
    ::kill(-pid_, SIGKILL);
    for (int i = 0; i < 1000 && !exited; ++i) {  // collect it, so nothing is left watched
      exited = Reaper::Get().TryCollect(pid_, &status);
      if (!exited) ::usleep(2000);
    }
    return;
  }
  while (!exited) {  // output closed before the exit status arrived
    exited = Reaper::Get().TryCollect(pid_, &status);
    if (!exited) ::usleep(2000);
  }
  int64_t took = NowMs() - start;
  pb::Frame f;
  f.set_stream_id(stream_);
  auto* e = f.mutable_exec_exit();
  if (WIFEXITED(status)) {
    e->set_exit_code(WEXITSTATUS(status));
  } else {
    e->set_exit_code(-1);
    e->set_signal(WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  }
  e->set_timed_out(timed_out);
  e->mutable_duration()->set_seconds(took / 1000);
  e->mutable_duration()->set_nanos(static_cast<int32_t>(took % 1000) * 1000000);
  out_.Send(f);
}

}  // namespace clawos::agent
