#include "monitor/jsonl_sink.h"

#include <google/protobuf/util/json_util.h>

#include "common/log.h"

namespace clawos::monitor {

namespace pb = ::clawos::monitor::v1;

std::string EventJsonLine(const pb::Event& e) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(e, &out, o);
  out.push_back('\n');
  return out;
}

absl::StatusOr<std::unique_ptr<JsonlSink>> JsonlSink::Open(const std::string& path,
                                                           int64_t max_bytes, int keep) {
  auto f = RotatingFile::Open(path, max_bytes, keep);
  if (!f.ok()) return f.status();
  return std::unique_ptr<JsonlSink>(new JsonlSink(std::move(*f)));
}

void JsonlSink::Write(const pb::Event& e) {
  if (auto s = file_->Append(EventJsonLine(e)); !s.ok()) {
    ++dropped_;
    std::lock_guard lock(mu_);
    if (last_error_ != s.message()) {
      log::Error("event log write failed", {{"error", std::string(s.message())}});
    }
    last_error_ = std::string(s.message());
    return;
  }
  ++written_;
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
