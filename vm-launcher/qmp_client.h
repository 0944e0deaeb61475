// A QMP (QEMU Machine Protocol) client over QEMU's unix socket: the
// capabilities handshake, then commands; asynchronous events are collected
// while waiting for a command's return.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace clawos::launcher {

class QmpClient {
 public:
  // Connects (retrying until `timeout`) and negotiates capabilities.
  static absl::StatusOr<QmpClient> Connect(const std::string& socket_path, absl::Duration timeout);
  QmpClient(QmpClient&& o) noexcept
      : fd_(o.fd_), buffer_(std::move(o.buffer_)), events_(std::move(o.events_)) {
    o.fd_ = -1;
  }
  QmpClient(const QmpClient&) = delete;
  ~QmpClient();

  // Runs `command`; the "return" value, or the QMP error's class and description.
  absl::StatusOr<nlohmann::json> Execute(const std::string& command,
                                         const nlohmann::json& arguments = nullptr,
                                         absl::Duration timeout = absl::Seconds(10));
  // Hands QEMU a descriptor under `name` (getfd, the descriptor as
  // SCM_RIGHTS), for a later "fd:<name>" migration URI.
  absl::Status SendFd(const std::string& name, int fd);
  // "running", "paused", "shutdown", ... from query-status.
  absl::StatusOr<std::string> Status();
  // Events seen so far (e.g. SHUTDOWN, POWERDOWN), oldest first.
  const std::vector<nlohmann::json>& events() const { return events_; }

 private:
  explicit QmpClient(int fd) : fd_(fd) {}
  absl::StatusOr<nlohmann::json> ReadMessage(absl::Time deadline);
  // The answer to the command just sent (events seen meanwhile are kept).
  absl::StatusOr<nlohmann::json> AwaitReturn(const std::string& command, absl::Time deadline);
  int fd_;
  std::string buffer_;
  std::vector<nlohmann::json> events_;
};

}  // namespace clawos::launcher
