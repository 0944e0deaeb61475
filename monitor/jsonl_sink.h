// Events as JSON lines (protobuf's JSON mapping, proto field names) in a
// size-rotated file, 0600. Lines are gathered and written once per batch of
// events (Flush), not one write per event.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "clawos/monitor/v1/monitor.pb.h"
#include "common/rotating_file.h"

namespace clawos::monitor {

class JsonlSink {
 public:
  static absl::StatusOr<std::unique_ptr<JsonlSink>> Open(const std::string& path,
                                                         int64_t max_bytes = 256 << 20,
                                                         int keep = 5);
  // Adds the event to the pending batch (written at 256 KiB or by Flush).
  void Write(const ::clawos::monitor::v1::Event& event);
  void Flush();
  ::clawos::monitor::v1::Sink Status() const;

 private:
  explicit JsonlSink(std::unique_ptr<RotatingFile> file) : file_(std::move(file)) {}
  std::unique_ptr<RotatingFile> file_;
  std::atomic<uint64_t> written_{0}, dropped_{0};
  mutable std::mutex mu_;
  std::string pending_;
  uint64_t pending_events_ = 0;
  std::string last_error_;
};

// One event as its JSON line (with the trailing newline).
std::string EventJsonLine(const ::clawos::monitor::v1::Event& event);

}  // namespace clawos::monitor
