#include "cli/interrupt.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

namespace clawos::cli {
namespace {

// The write end of the live CancelOnInterrupt's pipe (one at a time).
std::atomic<int> g_wake_fd{-1};

void OnInterrupt(int) {
  int fd = g_wake_fd.load();
  if (fd >= 0) {
    char b = 'i';
    (void)!::write(fd, &b, 1);  // async-signal-safe; the watcher does the rest
  }
  ::signal(SIGINT, SIG_DFL);  // a second Ctrl-C kills
}

}  // namespace

CancelOnInterrupt::CancelOnInterrupt(Canceller* cancel) : cancel_(cancel) {
  if (::pipe2(pipe_, O_CLOEXEC) != 0) return;  // Ctrl-C then kills, as without us
  g_wake_fd.store(pipe_[1]);
  watcher_ = std::thread([this] {
    char b = 0;
    while (::read(pipe_[0], &b, 1) < 0 && errno == EINTR) {
    }
    if (b == 'i') {
      interrupted_ = true;
      cancel_->Cancel();
    }
  });
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
}

CancelOnInterrupt::~CancelOnInterrupt() {
  if (pipe_[0] < 0) return;
  ::signal(SIGINT, SIG_DFL);
  g_wake_fd.store(-1);
  char b = 'q';
  (void)!::write(pipe_[1], &b, 1);
  if (watcher_.joinable()) watcher_.join();
  ::close(pipe_[0]);
  ::close(pipe_[1]);
}

}  // namespace clawos::cli
