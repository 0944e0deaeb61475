// The agent's side of the channel: waits for the host to open the port, says
// Hello, applies the Welcome, reports Ready, then serves the host's streams
// (exec, file put/get), pings and the shutdown, until the host goes away;
// then waits for it to come back (a launcher restart) and says Hello again.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "agent/exec.h"
#include "agent/files.h"
#include "agent/inference.h"
#include "agent/sender.h"

namespace clawos::agent {

inline constexpr char kAgentVersion[] = "0.2.0";
inline constexpr uint32_t kProtocolVersion = 1;

class Agent : public Sender {
 public:
  // `fd`: the open port. `release`: the image's release line, already read.
  Agent(int fd, std::string release) : fd_(fd), release_(std::move(release)) {}
  [[noreturn]] void Run();

  bool Send(const pb::Frame& frame) override;
  // To the console always; to the host as a LogLine while it is connected.
  void Log(const std::string& level, const std::string& text);

 private:
  bool WaitForHost();
  bool Serve();  // one connection; true when it ended in a hangup
  void Dispatch(pb::Frame& f);
  void OnWelcome(const pb::Welcome& w);
  void OnQuiesce();
  void OnPing(const pb::Ping& p);
  [[noreturn]] void OnShutdown(const pb::Shutdown& s);
  void DropStreams();

  const int fd_;
  const std::string release_;
  std::mutex write_mu_;
  std::atomic<bool> connected_{false};
  bool welcomed_ = false;  // once, for good: then never a template
  bool quiesced_ = false;  // answered Quiesce in this session
  std::map<std::string, std::string> env_;
  std::map<uint64_t, std::shared_ptr<ExecSession>> execs_;
  std::map<uint64_t, std::unique_ptr<FilePutSession>> puts_;
  std::map<uint64_t, std::shared_ptr<std::atomic<bool>>> gets_;
  InferenceEndpoint inference_{*this};
};

}  // namespace clawos::agent
