// A VM's log lines, kept by the launcher in <vm dir>/logs.jsonl so they
// outlive the VM's runs: serial console lines (pumped from console.log) and
// the guest agent's LogLines, in one sequence that increases by one per line
// across sources and runs.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace clawos::launcher {

enum class LogSource { kConsole = 1, kAgent = 2 };

struct LogRecord {
  int64_t sequence = 0;
  LogSource source = LogSource::kConsole;
  absl::Time time;
  std::string level;  // agent lines only
  std::string text;
};

struct LogQuery {
  bool console = true;
  bool agent = true;
  int64_t after_sequence = 0;  // > 0 overrides tail
  int tail = 0;                // 0: all
  int64_t up_to = 0;           // > 0: only lines up to this sequence
  absl::Time since = absl::InfinitePast();
};

class VmLog {
 public:
  static absl::StatusOr<std::shared_ptr<VmLog>> Open(const std::string& dir);

  void Append(LogSource source, absl::Time time, const std::string& level, const std::string& text);
  // Appends the complete lines `console_path` gained since the last pump.
  void PumpConsole(const std::string& console_path);
  // A new run starts a new console.log.
  void ResetConsole();
  std::vector<LogRecord> Read(const LogQuery& q) const;
  int64_t last_sequence() const;
  // True when a line after `sequence` exists, waiting until `deadline`.
  bool WaitAfter(int64_t sequence, absl::Time deadline) const;

 private:
  explicit VmLog(std::string dir) : dir_(std::move(dir)) {}
  void AppendLocked(LogSource source, absl::Time time, const std::string& level,
                    const std::string& text);
  const std::string dir_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<LogRecord> records_;  // in memory too: a VM's log is small
  int64_t console_offset_ = 0;
  std::string console_partial_;
};

}  // namespace clawos::launcher
