#include "cli/interrupt.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

namespace clawos::cli {
namespace {

// One pipe for the process, made once and never closed, so a signal that
// arrives while a CancelOnInterrupt is going away never writes to an fd
// that was closed and reused.
int g_pipe[2] = {-1, -1};
std::atomic<bool> g_armed{false};

void OnInterrupt(int) {
  const int saved = errno;
  if (g_armed.load()) {
    char b = 'i';
    (void)!::write(g_pipe[1], &b, 1);  // async-signal-safe; the watcher does the rest
  }
  ::signal(SIGINT, SIG_DFL);  // a second Ctrl-C kills
  errno = saved;
}

bool MakePipe() {
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [] { ok = ::pipe2(g_pipe, O_CLOEXEC) == 0; });
  return ok;
}

}  // namespace

CancelOnInterrupt::CancelOnInterrupt(Canceller* cancel) : cancel_(cancel) {
  if (!MakePipe()) return;  // Ctrl-C then kills, as without us
  pipe_[0] = g_pipe[0];
  pipe_[1] = g_pipe[1];
  watcher_ = std::thread([this] {
    char b = 0;
    while (::read(pipe_[0], &b, 1) < 0 && errno == EINTR) {
    }
    if (b == 'i') {
      interrupted_ = true;
      cancel_->Cancel();
    }
  });
  g_armed.store(true);
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
}

CancelOnInterrupt::~CancelOnInterrupt() {
  if (pipe_[0] < 0) return;
  ::signal(SIGINT, SIG_DFL);
  g_armed.store(false);
  char b = 'q';
  (void)!::write(pipe_[1], &b, 1);
  if (watcher_.joinable()) watcher_.join();
}

}  // namespace clawos::cli
