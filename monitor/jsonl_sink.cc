#include "monitor/jsonl_sink.h"

#include "absl/time/time.h"
#include "common/grpc_util.h"

#include "common/log.h"

namespace clawos::monitor {

namespace pb = ::clawos::monitor::v1;

namespace {

// A JSON string: ", \ and control characters escaped; valid UTF-8 kept;
// a byte that is not part of valid UTF-8 becomes U+FFFD.
void AppendString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        out->push_back('\\');
        out->push_back(static_cast<char>(c));
      } else if (c == '\n') {
        out->append("\\n");
      } else if (c == '\t') {
        out->append("\\t");
      } else if (c == '\r') {
        out->append("\\r");
      } else if (c < 0x20 || c == 0x7f) {
        static const char kHex[] = "0123456789abcdef";
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 15]);
      } else {
        out->push_back(static_cast<char>(c));
      }
      ++i;
      continue;
    }
    size_t len = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k)
      ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (ok) {
      out->append(s.substr(i, len));
      i += len;
    } else {
      out->append("\xef\xbf\xbd");
      ++i;
    }
  }
  out->push_back('"');
}

void Key(std::string* out, const char* key) {
  if (out->size() > 1) out->push_back(',');
  out->push_back('"');
  out->append(key);
  out->append("\":");
}

void Str(std::string* out, const char* key, std::string_view v) {
  Key(out, key);
  AppendString(out, v);
}

void Num(std::string* out, const char* key, int64_t v) {
  Key(out, key);
  out->append(std::to_string(v));
}

}  // namespace

// Written by hand: protobuf's JSON printer resolves the message's type on
// every call, and a JSON DOM allocates per field; at high event rates they
// were most of the monitor's CPU. Same field and enum names as the proto's
// JSON mapping; integers as numbers; empty fields left out.
std::string EventJsonLine(const pb::Event& e) {
  std::string out = "{";
  out.reserve(512);
  Num(&out, "sequence", static_cast<int64_t>(e.sequence()));
  Str(&out, "time",
      absl::FormatTime("%Y-%m-%dT%H:%M:%E9SZ", FromProtoTime(e.time()), absl::UTCTimeZone()));
  Str(&out, "kind", pb::Event::Kind_Name(e.kind()));
  Str(&out, "severity", pb::Severity_Name(e.severity()));
  if (!e.rule().empty()) Str(&out, "rule", e.rule());
  Str(&out, "action", e.action());
  Str(&out, "target", e.target());
  Str(&out, "vm", e.vm());
  if (!e.agent_subject().empty()) Str(&out, "agent_subject", e.agent_subject());
  Num(&out, "pid", e.pid());
  Num(&out, "tid", e.tid());
  Num(&out, "ppid", e.ppid());
  Num(&out, "uid", e.uid());
  Str(&out, "comm", e.comm());
  if (e.has_syscall()) {
    Key(&out, "syscall");
    out.append("{\"nr\":").append(std::to_string(e.syscall().nr()));
    out.append(",\"name\":");
    AppendString(&out, e.syscall().name());
    out.append(",\"args_summary\":");
    AppendString(&out, e.syscall().args_summary());
    if (e.syscall().at_entry()) {
      out.append(",\"at_entry\":true");
    } else {
      out.append(",\"return_value\":").append(std::to_string(e.syscall().return_value()));
    }
    out.push_back('}');
  }
  if (!e.filename().empty()) Str(&out, "filename", e.filename());
  if (e.kind() == pb::Event::PROCESS_FORK) Num(&out, "child_pid", e.child_pid());
  if (e.kind() == pb::Event::PROCESS_EXIT) Num(&out, "exit_code", e.exit_code());
  if (e.argv_size() > 0) {
    Key(&out, "argv");
    out.push_back('[');
    for (int i = 0; i < e.argv_size(); ++i) {
      if (i) out.push_back(',');
      AppendString(&out, e.argv(i));
    }
    out.push_back(']');
  }
  if (!e.llm_request_id().empty()) Str(&out, "llm_request_id", e.llm_request_id());
  out.append("}\n");
  return out;
}

absl::StatusOr<std::unique_ptr<JsonlSink>> JsonlSink::Open(const std::string& path,
                                                           int64_t max_bytes, int keep) {
  auto f = RotatingFile::Open(path, max_bytes, keep);
  if (!f.ok()) return f.status();
  return std::unique_ptr<JsonlSink>(new JsonlSink(std::move(*f)));
}

void JsonlSink::Write(const pb::Event& e) {
  std::string line = EventJsonLine(e);
  bool full;
  {
    std::lock_guard lock(mu_);
    pending_ += line;
    ++pending_events_;
    full = pending_.size() >= (256 << 10);
  }
  if (full) Flush();
}

void JsonlSink::Flush() {
  std::lock_guard lock(mu_);
  if (pending_.empty()) return;
  if (auto s = file_->Append(pending_); !s.ok()) {
    dropped_ += pending_events_;
    if (last_error_ != s.message()) {
      log::Error("event log write failed", {{"error", std::string(s.message())}});
    }
    last_error_ = std::string(s.message());
  } else {
    written_ += pending_events_;
  }
  pending_.clear();
  pending_events_ = 0;
}

pb::Sink JsonlSink::Status() const {
  pb::Sink s;
  s.set_name("sinks/jsonl");
  s.set_type(pb::Sink::JSONL_FILE);
  s.set_destination(file_->path());
  s.set_events_written(written_);
  s.set_events_dropped(dropped_);
  s.set_bytes_written(static_cast<uint64_t>(file_->bytes_written()));
  std::lock_guard lock(mu_);
  s.set_last_error(last_error_);
  s.set_state(last_error_.empty() ? pb::Sink::HEALTHY : pb::Sink::DEGRADED);
  return s;
}

}  // namespace clawos::monitor
