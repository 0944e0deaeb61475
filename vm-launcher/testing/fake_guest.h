// A guest agent played by a test on a real unix socket with real frames:
// the handshake (Hello, then Ready for the launcher's Welcome), pongs while
// `answer_pings` is set, and every frame it gets kept. It serves one
// connection at a time and accepts the next when one ends (a launcher that
// restarts connects again). What a real guest cannot do from inside a VM
// (unsolicited pongs, floods, never reading) it does on request.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "agent/frame.h"

namespace clawos::testing {

namespace apb = ::clawos::agent::v1;

class FakeGuest {
 public:
  explicit FakeGuest(const std::string& socket_path);
  ~FakeGuest();

  // On the current connection (dropped when there is none).
  void Send(const apb::Frame& f);
  void SendRaw(const std::string& bytes);
  std::vector<apb::Frame> Received();
  int ErrorsWith(absl::StatusCode code);
  int connections() const { return connections_; }
  // A Shutdown frame arrived.
  bool shutdown_asked() const { return shutdown_asked_; }

  std::atomic<bool> answer_pings{true};
  std::atomic<bool> reading{true};
  std::atomic<bool> say_hello{true};  // false: a guest that never finishes booting

 private:
  void Serve();
  void ServeOne(int fd);
  int listen_fd_ = -1;
  int fd_ = -1;                   // the current connection, under write_mu_
  std::atomic<int> live_fd_{-1};  // the same, for the destructor to shut down unlocked
  std::atomic<bool> quit_{false};
  std::atomic<int> connections_{0};
  std::atomic<bool> shutdown_asked_{false};
  std::thread thread_;
  std::mutex mu_, write_mu_;
  std::vector<apb::Frame> got_;
};

}  // namespace clawos::testing
