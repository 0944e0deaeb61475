// A VM's log lines, kept by the launcher in <vm dir>/logs.jsonl so they
// outlive the VM's runs: serial console lines (pumped from console.log) and
// the guest agent's LogLines, in one sequence that increases by one per line
// across sources and runs.
//
// Everything here comes from the guest, so everything is bounded (defaults in
// LogBounds, documented in docs/vm-launcher.md): a line's text and level are
// cut and made safe text (valid UTF-8, no control characters); lines beyond a
// rate are dropped and counted (one marker line says how many); memory holds
// only the newest lines up to a byte budget; logs.jsonl rotates to
// logs.jsonl.1 at a size; console.log is truncated once pumped past a size;
// one pump reads a bounded slice; opening reads only the file's tail.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
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

struct LogBounds {
  size_t max_text_bytes = 4096;
  size_t max_level_bytes = 16;
  size_t memory_bytes = 4 << 20;    // newest lines kept in memory (older: on disk only)
  int64_t file_bytes = 16 << 20;    // logs.jsonl rotates to logs.jsonl.1 past this
  int64_t console_bytes = 4 << 20;  // console.log is truncated once pumped past this
  size_t pump_bytes = 1 << 20;      // console bytes read per pump
  double lines_per_second = 500;    // sustained rate; more is dropped
  double burst_lines = 5000;
};

class VmLog {
 public:
  static absl::StatusOr<std::shared_ptr<VmLog>> Open(const std::string& dir, LogBounds bounds = {});
  ~VmLog();

  // False when the line was dropped (over the rate).
  bool Append(LogSource source, absl::Time time, const std::string& level, const std::string& text);
  // Appends the complete lines `console_path` gained since the last pump (at
  // most bounds.pump_bytes a call; the rest on the next).
  void PumpConsole(const std::string& console_path);
  // A new run starts a new console.log.
  void ResetConsole();
  std::vector<LogRecord> Read(const LogQuery& q) const;
  // The end of the console as pumped (whole last lines, then a line not yet
  // ended), at most `max_bytes`, safe text: what a failure reason quotes,
  // whether or not console.log was truncated since.
  std::string ConsoleTail(size_t max_bytes) const;
  int64_t last_sequence() const;
  // True when a line after `sequence` exists, waiting until `deadline`.
  bool WaitAfter(int64_t sequence, absl::Time deadline) const;
  // Lines dropped over the rate since the log was opened.
  int64_t dropped() const;
  size_t memory_bytes() const;

 private:
  VmLog(std::string dir, LogBounds bounds) : dir_(std::move(dir)), bounds_(bounds) {}
  void LoadTail();
  bool AppendLocked(LogSource source, absl::Time time, const std::string& level,
                    const std::string& text);
  // Writes one line to the file and memory, whatever the rate.
  void Emit(LogSource source, absl::Time time, const std::string& level, const std::string& text);
  void Store(LogRecord r);
  void WriteLine(const std::string& line);
  bool TakeToken(absl::Time now);
  const std::string dir_;
  const LogBounds bounds_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::deque<LogRecord> records_;  // the newest, up to bounds_.memory_bytes
  size_t records_bytes_ = 0;
  int64_t last_sequence_ = 0;
  int fd_ = -1;  // logs.jsonl, append
  int64_t file_bytes_ = 0;
  int64_t console_offset_ = 0;
  std::string console_partial_;
  double tokens_ = 0;
  absl::Time refill_ = absl::InfinitePast();
  int64_t dropped_ = 0;
  int64_t dropped_unreported_ = 0;
};

}  // namespace clawos::launcher
