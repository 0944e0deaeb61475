// The in-guest inference endpoint: 127.0.0.1:11435 inside the VM. Each HTTP
// request (one per connection) is carried to the host over its own
// guest-opened stream; the host adds the VM's credentials and answers with
// the proxy's response, streamed back chunk by chunk (SSE passes through).
// The guest never sees a provider key or a JWT.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "agent/sender.h"

namespace clawos::agent {

inline constexpr int kInferencePort = 11435;

class InferenceEndpoint {
 public:
  explicit InferenceEndpoint(Sender& out) : out_(out) {}
  // Listens on 127.0.0.1:`port` and serves on a thread; false with `error`.
  bool Start(int port, std::string* error);
  bool started() const { return listen_fd_ >= 0; }
  // A host frame for a guest-opened (even) stream.
  void Deliver(const pb::Frame& frame);
  // The host went away: every waiting request fails.
  void DropAll();

 private:
  struct Pending {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<pb::Frame> frames;
    bool dropped = false;
  };
  void Serve(int fd);
  // The next frame for `p`, or false after `timeout_ms` or a drop.
  bool Next(Pending& p, pb::Frame* out, int timeout_ms);

  Sender& out_;
  int listen_fd_ = -1;
  std::mutex open_mu_;  // ids go to the host in increasing order: allocate and send together
  uint64_t next_stream_ = 2;
  std::mutex mu_;
  std::map<uint64_t, std::shared_ptr<Pending>> streams_;
};

}  // namespace clawos::agent
