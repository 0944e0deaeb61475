// Commands run for the host: one ExecSession per exec stream, on its own
// thread, in its own process group, its output streamed back as it comes.
// The agent is PID 1, so one Reaper thread collects every child (orphans
// too) and hands exec sessions their own children's statuses.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "agent/sender.h"

namespace clawos::agent {

class Reaper {
 public:
  static Reaper& Get();
  void Start();
  // Hold while forking and registering, so a fast exit is not lost.
  std::mutex& fork_mutex() { return mu_; }
  void RegisterLocked(pid_t pid) { watched_[pid] = -1; }
  // The wait status of a registered pid, once it exited; false while it runs.
  bool TryCollect(pid_t pid, int* status);

 private:
  void Loop();
  std::mutex mu_;
  std::map<pid_t, int> watched_;  // -1 while running
};

class ExecSession : public std::enable_shared_from_this<ExecSession> {
 public:
  ExecSession(uint64_t stream, pb::ExecRequest request, std::map<std::string, std::string> env,
              Sender& out);
  ~ExecSession();
  // Runs the command on a new thread.
  void Start();
  void PushStdin(const pb::Chunk& chunk);
  // Kills the process group; no exit frame follows.
  void Cancel();
  // Sends `sig` to the process group (shutdown).
  void Signal(int sig);
  bool done() const { return done_; }

 private:
  void Run();
  bool Spawn(std::string* error);
  void Pump();
  void Wake();

  const uint64_t stream_;
  const pb::ExecRequest request_;
  std::map<std::string, std::string> env_;
  Sender& out_;
  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1, in_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::mutex mu_;
  std::deque<std::string> stdin_;
  bool stdin_eof_ = false;
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> done_{false};
};

}  // namespace clawos::agent
