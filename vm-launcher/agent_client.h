// The launcher's end of the agent channel (clawos.agent.v1 frames over the
// VM's agent socket). Connect does the handshake (Hello → Welcome → Ready);
// then one reader thread demultiplexes frames: the control stream here,
// host-opened request streams to their AgentStream, guest-opened streams
// (the inference tunnel) to a handler. Sends from any thread are serialised.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/frame.h"

namespace clawos::launcher {

namespace apb = ::clawos::agent::v1;

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
    // Called on the reader thread; must not block.
    std::function<void(const apb::LogLine&)> on_log;
    // A stream the guest opened, with its first frame; handled on a new thread.
    std::function<void(std::unique_ptr<AgentStream>, apb::Frame)> on_guest_stream;
  };

  // Connects to `socket` (retrying while the VMM starts), waits for the
  // guest's Hello, sends the Welcome and waits for Ready. `alive` is asked
  // while waiting; false ends the wait with FAILED_PRECONDITION.
  static absl::StatusOr<std::unique_ptr<AgentClient>> Connect(const std::string& socket,
                                                              Options options, absl::Time deadline,
                                                              const std::function<bool()>& alive);
  ~AgentClient();

  const apb::Hello& hello() const { return hello_; }
  bool connected() const;
  absl::StatusOr<apb::Pong> Ping(absl::Duration timeout);
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
};

}  // namespace clawos::launcher
