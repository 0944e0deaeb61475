#include "vm-launcher/vm_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/utf8.h"

namespace clawos::launcher {
namespace {

constexpr size_t kMaxLine = 4096;
constexpr size_t kMaxRecords = 20000;  // older lines are dropped from memory, kept on disk

// Invalid UTF-8 and control characters (but tabs) become U+FFFD, carriage
// returns are dropped: the line is a valid protobuf string that prints as one line.
std::string LogLine(const std::string& s) {
  std::string out;
  for (char ch : ToValidUtf8(s)) {
    unsigned char c = ch;
    if (c == '\r') continue;
    if (c < 0x20 && c != '\t') {
      out += "\xEF\xBF\xBD";
    } else {
      out += ch;
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::shared_ptr<VmLog>> VmLog::Open(const std::string& dir) {
  std::shared_ptr<VmLog> log(new VmLog(dir));
  std::ifstream in(dir + "/logs.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) continue;  // a torn last line after a crash
    LogRecord r;
    r.sequence = j.value("seq", int64_t{0});
    r.source = j.value("src", 1) == 2 ? LogSource::kAgent : LogSource::kConsole;
    r.time = absl::FromUnixMicros(j.value("us", int64_t{0}));
    r.level = j.value("level", "");
    r.text = j.value("text", "");
    log->records_.push_back(std::move(r));
  }
  if (log->records_.size() > kMaxRecords)
    log->records_.erase(log->records_.begin(), log->records_.end() - kMaxRecords);
  log->console_offset_ = std::atoll(ReadFile(dir + "/console.offset").value_or("0").c_str());
  return log;
}

void VmLog::AppendLocked(LogSource source, absl::Time time, const std::string& level,
                         const std::string& text) {
  LogRecord r;
  r.sequence = records_.empty() ? 1 : records_.back().sequence + 1;
  r.source = source;
  r.time = time;
  r.level = level;
  r.text = LogLine(text.substr(0, kMaxLine));
  nlohmann::json j{{"seq", r.sequence},
                   {"src", static_cast<int>(source)},
                   {"us", absl::ToUnixMicros(time)},
                   {"text", r.text}};
  if (!level.empty()) j["level"] = level;
  int fd = ::open((dir_ + "/logs.jsonl").c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0) {
    std::string l = j.dump() + "\n";
    (void)!::write(fd, l.data(), l.size());
    ::close(fd);
  }
  records_.push_back(std::move(r));
  if (records_.size() > kMaxRecords) records_.erase(records_.begin());
  cv_.notify_all();
}

void VmLog::Append(LogSource source, absl::Time time, const std::string& level,
                   const std::string& text) {
  std::lock_guard lock(mu_);
  AppendLocked(source, time, level, text);
}

void VmLog::ResetConsole() {
  std::lock_guard lock(mu_);
  console_offset_ = 0;
  console_partial_.clear();
  WriteFileAtomic(dir_ + "/console.offset", "0", 0600).IgnoreError();
}

void VmLog::PumpConsole(const std::string& console_path) {
  std::lock_guard lock(mu_);
  int fd = ::open(console_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char buf[64 * 1024];
  bool moved = false;
  for (;;) {
    ssize_t n = ::pread(fd, buf, sizeof(buf), console_offset_);
    if (n <= 0) break;
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
    if (console_partial_.size() > kMaxLine) {  // a line without end: cut it
      AppendLocked(LogSource::kConsole, absl::Now(), "", console_partial_);
      console_partial_.clear();
    }
  }
  ::close(fd);
  if (moved) {
    WriteFileAtomic(dir_ + "/console.offset",
                    std::to_string(console_offset_ - static_cast<int64_t>(console_partial_.size())),
                    0600)
        .IgnoreError();
  }
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
  return records_.empty() ? 0 : records_.back().sequence;
}

bool VmLog::WaitAfter(int64_t sequence, absl::Time deadline) const {
  std::unique_lock lock(mu_);
  while (records_.empty() || records_.back().sequence <= sequence) {
    if (cv_.wait_until(lock, absl::ToChronoTime(deadline)) == std::cv_status::timeout &&
        absl::Now() >= deadline) {
      return false;
    }
  }
  return true;
}

}  // namespace clawos::launcher
