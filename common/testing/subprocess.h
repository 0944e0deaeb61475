// Test helpers for real processes: run a command to completion with stdin
// and captured output, or keep a daemon running and stop or kill it.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace clawos::testing {

struct RunResult {
  int exit_code = -1;  // -1 when killed by a signal or timed out
  std::string out;
  std::string err;
};

// Runs argv[0] (a path) with `env` added to the current environment.
RunResult RunCommand(const std::vector<std::string>& argv, const std::string& stdin_data = "",
                     const std::map<std::string, std::string>& env = {},
                     absl::Duration timeout = absl::Seconds(60));

class Daemon {
 public:
  // Starts argv with stdout+stderr appended to `log_path`.
  Daemon(const std::vector<std::string>& argv, const std::string& log_path,
         const std::map<std::string, std::string>& env = {});
  ~Daemon();
  Daemon(const Daemon&) = delete;

  pid_t pid() const { return pid_; }
  // Polls until `path` exists or the process exits; false on exit/timeout.
  // A unix socket must also accept a connection: one left behind by an
  // earlier daemon does not count.
  bool WaitForFile(const std::string& path, absl::Duration timeout = absl::Seconds(60));
  // Polls until the log has `needle` after its first `from` bytes (LogSize()
  // before a restart), or the process exits; false on exit/timeout.
  bool WaitForLog(const std::string& needle, size_t from = 0,
                  absl::Duration timeout = absl::Seconds(30));
  size_t LogSize() const { return Log().size(); }
  // Sends `sig` and waits; returns the exit code (or 128+signal).
  int Stop(int sig);
  bool Running();
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  std::string log_path_;
  int status_ = -1;
};

}  // namespace clawos::testing
