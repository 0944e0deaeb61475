// Running a program to completion: argv (looked up in PATH), stdin, captured
// stdout/stderr, extra environment, a timeout.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace clawos {

struct ProcessOptions {
  std::string stdin_data;
  // Added to (or, with an empty value, removed from) this process's environment.
  std::map<std::string, std::string> env;
  absl::Duration timeout = absl::Minutes(10);
  std::string cwd;  // empty: this process's
};

struct ProcessResult {
  int exit_code = -1;  // 128 + signal when killed by one
  bool timed_out = false;
  std::string out;
  std::string err;
};

// NOT_FOUND when the program cannot be started.
absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                         const ProcessOptions& options = {});

// RunProcess that also requires exit code 0; the error names the command and
// carries the end of its stderr. Returns stdout.
absl::StatusOr<std::string> RunChecked(const std::vector<std::string>& argv,
                                       const ProcessOptions& options = {});

// Starts argv (stdin /dev/null, stdout and stderr appended to `log_path`,
// created 0600) without waiting; returns its pid. The caller reaps it.
// `join_cgroups`: cgroup.procs files the child moves itself into before it
// executes argv, so its first instruction already runs (and is charged and
// watched) in those cgroups. Then this returns once the child has executed
// argv, or an error naming the cgroup or the exec that failed.
// `pass_fds`: descriptors the child inherits as 3, 4, ... in that order (the
// caller keeps its own).
absl::StatusOr<pid_t> SpawnWithLog(const std::vector<std::string>& argv,
                                   const std::map<std::string, std::string>& env,
                                   const std::string& log_path,
                                   const std::vector<std::string>& join_cgroups = {},
                                   const std::vector<int>& pass_fds = {});

// Starts argv as a daemon that outlives the caller: its own session (no
// controlling terminal, so a closed terminal does not hang it up), default
// signal dispositions and an empty signal mask, stdin /dev/null, stdout and
// stderr appended to `log_path` (0600). Returns its pid.
absl::StatusOr<pid_t> SpawnDaemon(const std::vector<std::string>& argv,
                                  const std::map<std::string, std::string>& env,
                                  const std::string& log_path);

// A waitpid() status as an exit code: the code, or 128 + the signal.
int ExitCodeOf(int wait_status);

}  // namespace clawos
