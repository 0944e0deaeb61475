// The launcher's end of the agent channel (clawos.agent.v1 frames over the
// VM's agent socket). Connect does the handshake (Hello → Welcome → Ready;
// Quiesce instead for a template);
// then one reader thread demultiplexes frames: the control stream here,
// host-opened request streams to their AgentStream, guest-opened streams
// (the inference tunnel) to a handler. Sends from any thread are serialised.
//
// The guest is hostile, so what it can make the launcher hold is bounded:
// pongs are kept only for pings still waited on; guest-opened streams are
// limited per VM and across the launcher (more are refused with
// RESOURCE_EXHAUSTED, not given a thread); unread frames are limited per
// stream and per connection (over: the stream is cancelled). Pings can be
// sent without waiting, so one slow guest never holds up another's checks.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/frame.h"

namespace clawos::launcher {

namespace apb = ::clawos::agent::v1;

// A count of things held with a ceiling, shared by every VM's channel (the
// launcher-wide cap on guest stream threads). Never blocks.
class Slots {
 public:
  explicit Slots(int max) : max_(max) {}
  bool TryTake();
  void Give();
  int used() const;
  int max() const { return max_; }

 private:
  const int max_;
  mutable std::mutex mu_;
  int used_ = 0;
};

struct AgentConn;  // shared by the client and its streams

// One request stream. Frames arrive in order; the stream ends when the
// answering side sent its last frame or an Error, or the connection dropped.
class AgentStream {
 public:
  AgentStream(std::shared_ptr<AgentConn> conn, uint64_t id);
  ~AgentStream();  // cancels the stream if it has not ended
  uint64_t id() const { return id_; }
  // Sends `frame` on this stream (its stream_id is set here).
  absl::Status Send(apb::Frame frame);
  // The next frame: an Error frame comes back as its status; UNAVAILABLE when
  // the connection dropped; DEADLINE_EXCEEDED at `deadline`.
  absl::StatusOr<apb::Frame> Next(absl::Time deadline);
  // Marks the stream ended by the protocol (no Cancel on destruction).
  void End() { ended_ = true; }

 private:
  std::shared_ptr<AgentConn> conn_;
  const uint64_t id_;
  bool ended_ = false;
};

class AgentClient {
 public:
  struct Options {
    std::string vm;  // "vms/<id>"
    std::map<std::string, std::string> env;
    bool inference_enabled = false;
    // The guest's identity (Welcome.hostname, Welcome.machine_id); the
    // Welcome also carries 64 fresh random bytes for its kernel's RNG.
    std::string hostname;
    std::string machine_id;
    // Called on the reader thread; must not block.
    std::function<void(const apb::LogLine&)> on_log;
    // A stream the guest opened, with its first frame; handled on a new thread.
    std::function<void(std::unique_ptr<AgentStream>, apb::Frame)> on_guest_stream;
    // Guest-opened streams open at once on this channel; more are refused.
    int max_guest_streams = 8;
    // Launcher-wide: a guest stream takes one of these for its thread; none
    // left refuses it. Null: no launcher-wide cap.
    std::shared_ptr<Slots> guest_stream_slots;
    // Unread frames of all streams of this channel together.
    size_t max_queued_bytes = 16 << 20;
  };

  // Connects to `socket` (retrying while the VMM starts), waits for the
  // guest's Hello, sends the Welcome and waits for Ready. `alive` is asked
  // while waiting; false ends the wait with FAILED_PRECONDITION.
  static absl::StatusOr<std::unique_ptr<AgentClient>> Connect(const std::string& socket,
                                                              Options options, absl::Time deadline,
                                                              const std::function<bool()>& alive);
  // For a template: connects, waits for the Hello of a guest never welcomed,
  // sends Quiesce and returns once the guest answered Quiesced (the guest's
  // refusal as its status). The channel is then closed, the guest unwelcomed.
  static absl::Status Quiesce(const std::string& socket, absl::Time deadline,
                              const std::function<bool()>& alive,
                              const std::function<void(const apb::LogLine&)>& on_log);
  ~AgentClient();

  const apb::Hello& hello() const { return hello_; }
  bool connected() const;
  absl::StatusOr<apb::Pong> Ping(absl::Duration timeout);
  // A ping that does not wait for its pong: the nonce to ask TakePong about.
  // UNAVAILABLE when the channel is closed, another writer holds it past
  // `lock_wait`, or its socket is full (a guest that does not read is never
  // waited on).
  absl::StatusOr<uint64_t> SendPing(absl::Duration lock_wait = absl::Milliseconds(20));
  // The pong for `nonce` if it came; a pong is kept until taken or forgotten.
  std::optional<apb::Pong> TakePong(uint64_t nonce);
  void ForgetPing(uint64_t nonce);
  // Guest-opened streams being served now, and frames' bytes waiting unread.
  int guest_streams() const;
  size_t queued_bytes() const;
  size_t pending_pongs() const;
  // Frames from the guest that did not parse and were dropped.
  int64_t skipped_frames() const { return skipped_frames_; }
  // Asks the guest to shut down; it powers off within `grace` plus a little.
  absl::Status Shutdown(absl::Duration grace);
  // A new host-opened stream (odd id).
  std::unique_ptr<AgentStream> OpenStream();

 private:
  AgentClient() = default;
  void ReadLoop();
  std::shared_ptr<AgentConn> conn_;
  apb::Hello hello_;
  Options options_;
  std::atomic<int64_t> skipped_frames_{0};
};

}  // namespace clawos::launcher
