// One attempt of one step inside its VM. The command runs detached from the
// exec call that started it (its own session, output to files under
// /var/clawos/steps/<step>-<attempt> in the guest), so an orchestrator that dies
// does not kill it, and running the same attempt again attaches to it instead of
// starting it twice: the step directory is created with mkdir, which only one
// caller wins.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "orchestrator/launcher_ops.h"

namespace clawos::orchestrator {

// Calls `call` (returning a StatusOr) again while it answers UNAVAILABLE (the
// launcher restarting, an agent channel broken), about once a second, until a
// second before `deadline` or `cancelled()`, which is checked every 100 ms.
template <typename Call>
auto RetryWhileUnavailable(absl::Time deadline, const std::function<bool()>& cancelled, Call call) {
  auto r = call();
  while (!r.ok() && absl::IsUnavailable(r.status()) && !cancelled() &&
         absl::Now() + absl::Seconds(1) < deadline) {
    for (int i = 0; i < 10 && !cancelled(); ++i) absl::SleepFor(absl::Milliseconds(100));
    if (cancelled()) break;
    r = call();
  }
  return r;
}

inline constexpr size_t kMaxStdout = 64 * 1024;
inline constexpr size_t kMaxStderrTail = 16 * 1024;
inline constexpr size_t kMaxFileBytes = 1024 * 1024;
inline constexpr int kMaxFiles = 16;
inline constexpr size_t kMaxFilesTotal = 2 * 1024 * 1024;  // keeps a StepOutput under gRPC's 4 MiB
inline constexpr size_t kMaxTranscript = 256 * 1024;

struct OutputFileData {
  std::string path;   // relative to /workspace/out
  int64_t size = -1;  // -1: unknown (skipped before reading)
  std::string content;
  std::string skipped;
};

struct StepOutputData {
  int attempt = 0;
  std::optional<int> exit_code;
  std::string stdout_text;
  bool stdout_truncated = false;
  std::string stderr_tail;
  std::vector<OutputFileData> files;
  std::string transcript;
};

struct AttemptPlan {
  std::string vm;  // VM id
  std::string step;
  int attempt = 1;
  std::vector<std::string> argv;  // rendered
  std::map<std::string, std::string> env;
  std::string workdir = "/workspace";
  absl::Duration timeout = absl::Minutes(30);       // what is left of it
  absl::Duration step_timeout = absl::Minutes(30);  // the step's, for messages
  bool prompt = false;
  std::string prompt_text;  // rendered; written to the guest before the run
  std::string model;
  int max_iterations = 10;
  // Files to place under /workspace/in/<step>/ before the run (by dependency).
  std::map<std::string, std::vector<OutputFileData>> inputs;
};

struct AttemptOutcome {
  bool succeeded = false;
  std::string error;  // why it failed, e.g. "exit code 2", "timed out after 10s"
  bool cancelled = false;
  StepOutputData output;
};

// Runs (or attaches to) the attempt. `register_cancel` is called with a token
// while a guest command runs and with nullptr after; `cancelled` is polled to
// tell a cancel from a failure.
AttemptOutcome RunAttempt(LauncherOps& launcher, const AttemptPlan& plan,
                          const std::function<void(CancelToken*)>& register_cancel,
                          const std::function<bool()>& cancelled);

// Kills the attempt's detached command, if it runs.
void KillAttempt(LauncherOps& launcher, const std::string& vm, const std::string& step,
                 int attempt);

// The guest directory of an attempt.
std::string AttemptDir(const std::string& step, int attempt);

}  // namespace clawos::orchestrator
