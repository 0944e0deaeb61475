// Ctrl-C as a cancel: while a CancelOnInterrupt lives, SIGINT cancels the
// call its Canceller ends (the call then returns CANCELLED) instead of
// killing the process, so the server learns the caller went away and can
// undo what it started. A second Ctrl-C after the first kills as usual.
#pragma once

#include <atomic>
#include <thread>

#include "cli/rest_client.h"

namespace clawos::cli {

class CancelOnInterrupt {
 public:
  explicit CancelOnInterrupt(Canceller* cancel);
  ~CancelOnInterrupt();
  CancelOnInterrupt(const CancelOnInterrupt&) = delete;
  CancelOnInterrupt& operator=(const CancelOnInterrupt&) = delete;

  bool interrupted() const { return interrupted_.load(); }

 private:
  Canceller* cancel_;
  int pipe_[2] = {-1, -1};  // the process's one pipe (never closed)
  std::atomic<bool> interrupted_{false};
  std::thread watcher_;
};

}  // namespace clawos::cli
