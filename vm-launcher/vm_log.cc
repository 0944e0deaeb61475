#include "vm-launcher/vm_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/json.h"
#include "common/utf8.h"

namespace clawos::launcher {
namespace {

constexpr size_t kRecordOverhead = 64;  // what a record costs beyond its strings

size_t Cost(const LogRecord& r) { return r.text.size() + r.level.size() + kRecordOverhead; }

// The last `max_bytes` of the file at `path` (from a line start), or "".
std::string ReadTail(const std::string& path, int64_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  struct stat st {};
  std::string out;
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {
    int64_t from = std::max<int64_t>(0, st.st_size - max_bytes);
    out.resize(static_cast<size_t>(st.st_size - from));
    ssize_t n = ::pread(fd, out.data(), out.size(), from);
    out.resize(n > 0 ? static_cast<size_t>(n) : 0);
    if (from > 0) {  // the first line is cut: skip it
      size_t nl = out.find('\n');
      out.erase(0, nl == std::string::npos ? out.size() : nl + 1);
    }
  }
  ::close(fd);
  return out;
}

}  // namespace

absl::StatusOr<std::shared_ptr<VmLog>> VmLog::Open(const std::string& dir, LogBounds bounds) {
  std::shared_ptr<VmLog> log(new VmLog(dir, bounds));
  log->LoadTail();
  log->tokens_ = bounds.burst_lines;
  log->console_offset_ = std::atoll(ReadFile(dir + "/console.offset").value_or("0").c_str());
  return log;
}

VmLog::~VmLog() {
  if (fd_ >= 0) ::close(fd_);
}

void VmLog::LoadTail() {
  const int64_t want = static_cast<int64_t>(bounds_.memory_bytes) * 2;
  for (const std::string& path : {dir_ + "/logs.jsonl.1", dir_ + "/logs.jsonl"}) {
    std::string tail = ReadTail(path, want);
    size_t start = 0;
    while (start < tail.size()) {
      size_t nl = tail.find('\n', start);
      if (nl == std::string::npos) break;  // a torn last line after a crash
      auto j = nlohmann::json::parse(tail.substr(start, nl - start), nullptr, false);
      start = nl + 1;
      auto seq = json::Int(j, "seq");
      if (!seq || *seq <= last_sequence_) continue;
      LogRecord r;
      r.sequence = *seq;
      r.source = json::Int(j, "src").value_or(1) == 2 ? LogSource::kAgent : LogSource::kConsole;
      r.time = absl::FromUnixMicros(json::Int(j, "us").value_or(0));
      r.level = ToSafeText(json::String(j, "level").value_or(""), bounds_.max_level_bytes, false);
      r.text = ToSafeText(json::String(j, "text").value_or(""), bounds_.max_text_bytes, false);
      last_sequence_ = r.sequence;
      Store(std::move(r));
    }
  }
  struct stat st {};
  if (::stat((dir_ + "/logs.jsonl").c_str(), &st) == 0) file_bytes_ = st.st_size;
}

void VmLog::Store(LogRecord r) {
  records_bytes_ += Cost(r);
  records_.push_back(std::move(r));
  while (records_bytes_ > bounds_.memory_bytes && records_.size() > 1) {
    records_bytes_ -= Cost(records_.front());
    records_.pop_front();
  }
}

void VmLog::WriteLine(const std::string& line) {
  if (fd_ < 0) {
    fd_ = ::open((dir_ + "/logs.jsonl").c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) return;
  }
  ssize_t n = ::write(fd_, line.data(), line.size());
  if (n > 0) file_bytes_ += n;
  if (file_bytes_ >= bounds_.file_bytes) {  // keep one older file; the oldest goes
    ::close(fd_);
    fd_ = -1;
    std::rename((dir_ + "/logs.jsonl").c_str(), (dir_ + "/logs.jsonl.1").c_str());
    file_bytes_ = 0;
  }
}

bool VmLog::TakeToken(absl::Time now) {
  if (refill_ != absl::InfinitePast()) {
    tokens_ = std::min(bounds_.burst_lines,
                       tokens_ + absl::ToDoubleSeconds(now - refill_) * bounds_.lines_per_second);
  }
  refill_ = now;
  if (tokens_ < 1) {
    ++dropped_;
    ++dropped_unreported_;
    return false;
  }
  tokens_ -= 1;
  return true;
}

bool VmLog::AppendLocked(LogSource source, absl::Time time, const std::string& level,
                         const std::string& text) {
  if (!TakeToken(absl::Now())) return false;
  if (dropped_unreported_ > 0) {
    Emit(LogSource::kConsole, time, "",
         absl::StrCat("[clawos-vm-launcher] ", dropped_unreported_,
                      " log lines dropped: the VM wrote more than ", bounds_.lines_per_second,
                      " lines/s"));
    dropped_unreported_ = 0;
  }
  Emit(source, time, level, text);
  return true;
}

void VmLog::Emit(LogSource source, absl::Time time, const std::string& level,
                 const std::string& text) {
  LogRecord r;
  r.sequence = ++last_sequence_;
  r.source = source;
  r.time = time;
  r.level = ToSafeText(level, bounds_.max_level_bytes, false);
  r.text = ToSafeText(text, bounds_.max_text_bytes, false);
  nlohmann::json j{{"seq", r.sequence},
                   {"src", static_cast<int>(source)},
                   {"us", absl::ToUnixMicros(time)},
                   {"text", r.text}};
  if (!r.level.empty()) j["level"] = r.level;
  WriteLine(json::Dump(j) + "\n");
  Store(std::move(r));
  cv_.notify_all();
}

bool VmLog::Append(LogSource source, absl::Time time, const std::string& level,
                   const std::string& text) {
  std::lock_guard lock(mu_);
  return AppendLocked(source, time, level, text);
}

void VmLog::ResetConsole() {
  std::lock_guard lock(mu_);
  console_offset_ = 0;
  console_partial_.clear();
  WriteFileAtomic(dir_ + "/console.offset", "0", 0600).IgnoreError();
}

void VmLog::PumpConsole(const std::string& console_path) {
  std::lock_guard lock(mu_);
  int fd = ::open(console_path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  char buf[64 * 1024];
  bool moved = false, caught_up = false;
  size_t budget = bounds_.pump_bytes;
  while (budget > 0) {
    ssize_t n = ::pread(fd, buf, std::min(sizeof(buf), budget), console_offset_);
    if (n <= 0) {
      caught_up = true;
      break;
    }
    budget -= static_cast<size_t>(n);
    console_offset_ += n;
    moved = true;
    console_partial_.append(buf, static_cast<size_t>(n));
    size_t start = 0, nl;
    while ((nl = console_partial_.find('\n', start)) != std::string::npos) {
      AppendLocked(LogSource::kConsole, absl::Now(), "",
                   console_partial_.substr(start, nl - start));
      start = nl + 1;
    }
    console_partial_.erase(0, start);
    if (console_partial_.size() > bounds_.max_text_bytes) {  // a line without end: cut it
      AppendLocked(LogSource::kConsole, absl::Now(), "", console_partial_);
      console_partial_.clear();
    }
  }
  // QEMU appends (append=on): once everything is read, a large file starts
  // over. What QEMU writes between the last read and the truncation is lost.
  if (caught_up && console_offset_ >= bounds_.console_bytes && ::ftruncate(fd, 0) == 0) {
    if (!console_partial_.empty()) {  // its start is gone with the file: a line of its own
      AppendLocked(LogSource::kConsole, absl::Now(), "", console_partial_);
      console_partial_.clear();
    }
    console_offset_ = 0;
    moved = true;
  }
  ::close(fd);
  if (moved) {
    int64_t resume =
        std::max<int64_t>(0, console_offset_ - static_cast<int64_t>(console_partial_.size()));
    WriteFileAtomic(dir_ + "/console.offset", std::to_string(resume), 0600).IgnoreError();
    if (resume == 0) console_partial_.clear();
  }
}

std::string VmLog::ConsoleTail(size_t max_bytes) const {
  std::lock_guard lock(mu_);
  std::string tail = ToSafeText(console_partial_, max_bytes);
  for (auto it = records_.rbegin(); it != records_.rend() && tail.size() < max_bytes; ++it) {
    if (it->source != LogSource::kConsole) continue;
    tail = it->text + "\n" + tail;
  }
  if (tail.size() <= max_bytes) return tail;
  // Cut at the front, at a character boundary (not inside a UTF-8 sequence).
  size_t from = tail.size() - max_bytes;
  while (from < tail.size() && (static_cast<unsigned char>(tail[from]) & 0xC0) == 0x80) ++from;
  return tail.substr(from);
}

std::vector<LogRecord> VmLog::Read(const LogQuery& q) const {
  std::lock_guard lock(mu_);
  std::vector<LogRecord> out;
  for (const LogRecord& r : records_) {
    if (r.sequence <= q.after_sequence) continue;
    if (q.up_to > 0 && r.sequence > q.up_to) break;
    if (r.source == LogSource::kConsole && !q.console) continue;
    if (r.source == LogSource::kAgent && !q.agent) continue;
    if (r.time < q.since) continue;
    out.push_back(r);
  }
  if (q.after_sequence == 0 && q.tail > 0 && out.size() > static_cast<size_t>(q.tail)) {
    out.erase(out.begin(), out.end() - q.tail);
  }
  return out;
}

int64_t VmLog::last_sequence() const {
  std::lock_guard lock(mu_);
  return last_sequence_;
}

bool VmLog::WaitAfter(int64_t sequence, absl::Time deadline) const {
  std::unique_lock lock(mu_);
  while (last_sequence_ <= sequence) {
    if (cv_.wait_until(lock, absl::ToChronoTime(deadline)) == std::cv_status::timeout &&
        absl::Now() >= deadline) {
      return false;
    }
  }
  return true;
}

int64_t VmLog::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

size_t VmLog::memory_bytes() const {
  std::lock_guard lock(mu_);
  return records_bytes_;
}

}  // namespace clawos::launcher
