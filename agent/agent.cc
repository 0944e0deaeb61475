#include "agent/agent.h"

#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "agent/machine.h"
#include "agent/system.h"

namespace clawos::agent {
namespace {

void SetNow(google::protobuf::Timestamp* t) {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  t->set_seconds(ts.tv_sec);
  t->set_nanos(static_cast<int32_t>(ts.tv_nsec));
}

}  // namespace

bool Agent::Send(const pb::Frame& frame) {
  std::string bytes = EncodeFrame(frame);
  if (bytes.empty()) return false;
  std::lock_guard lock(write_mu_);
  if (!connected_) return false;
  // The port is non-blocking: a frame is written whole or, when the host
  // goes away midway, abandoned (never finished into the next connection).
  // A host that takes nothing for 10 s is treated as gone.
  size_t off = 0;
  int stalled_ms = 0;
  while (off < bytes.size()) {
    ssize_t n = ::write(fd_, bytes.data() + off, bytes.size() - off);
    if (n > 0) {
      off += static_cast<size_t>(n);
      stalled_ms = 0;
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
    pollfd p{fd_, POLLOUT, 0};
    ::poll(&p, 1, 100);
    stalled_ms += 100;
    if ((p.revents & POLLHUP) || stalled_ms >= 10000) {
      connected_ = false;
      return false;
    }
  }
  return true;
}

void Agent::Log(const std::string& level, const std::string& text) {
  Console(text);
  if (!connected_) return;
  pb::Frame f;
  SetNow(f.mutable_log_line()->mutable_time());
  f.mutable_log_line()->set_level(level);
  f.mutable_log_line()->set_text(text);
  Send(f);
}

bool Agent::WaitForHost() {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, 100) < 0) return false;
  if (p.revents & POLLHUP) {
    ::usleep(50 * 1000);  // a port without a host reports HUP at once
    return false;
  }
  return true;
}

void Agent::Run() {
  Reaper::Get().Start();
  for (;;) {
    while (!WaitForHost()) {
    }
    connected_ = true;
    const bool hung_up = Serve();
    connected_ = false;
    DropStreams();
    // The next Hello goes only to a new connection. After a hangup the host
    // is gone already (and a new one may be there: a VM restored from a
    // template sees its template's host go and its own come at once). After
    // a stall or a bad frame, wait for this host to drop the connection.
    while (!hung_up) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) > 0 && (p.revents & POLLHUP)) break;
      if (p.revents & POLLIN) {  // drain what the old host still sends
        char drain[4096];
        (void)!::read(fd_, drain, sizeof(drain));
      }
    }
  }
}

bool Agent::Serve() {
  pb::Frame hello;
  auto* h = hello.mutable_hello();
  h->set_protocol_version(kProtocolVersion);
  h->set_agent_version(kAgentVersion);
  h->set_kernel_release(KernelRelease());
  h->add_features("quiesce");
  int64_t boot_ms = UptimeMs();
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  int64_t boot = int64_t{now.tv_sec} * 1000 + now.tv_nsec / 1000000 - boot_ms;
  h->mutable_boot_time()->set_seconds(boot / 1000);
  h->mutable_boot_time()->set_nanos(static_cast<int32_t>(boot % 1000) * 1000000);
  if (!Send(hello)) return false;
  quiesced_ = false;
  FrameReader reader;
  char buf[64 * 1024];
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    ::poll(&p, 1, 1000);
    if (p.revents & POLLHUP) return true;
    if (!connected_) return false;
    if (!(p.revents & POLLIN)) continue;
    ssize_t n = ::read(fd_, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) return n == 0;  // 0: the host is gone (end of file)
    reader.Feed(buf, static_cast<size_t>(n));
    pb::Frame f;
    std::string error;
    for (;;) {
      auto r = reader.Next(&f, &error);
      if (r == FrameReader::Result::kNeedMore) break;
      if (r == FrameReader::Result::kSkipped) {
        Console("bad frame from the host: " + error);
        continue;
      }
      if (r == FrameReader::Result::kError) {
        // The host will drop the connection on its side; Run waits for that.
        Console("bad frame from the host: " + error);
        return false;
      }
      if (quiesced_) {
        // Restored from a template in the session it was quiesced in: this
        // is a new host (the old one never talks after Quiesced).
        quiesced_ = false;
        if (!Send(hello)) return false;
      }
      Dispatch(f);
    }
  }
}

void Agent::DropStreams() {
  inference_.DropAll();
  for (auto& [id, e] : execs_) e->Cancel();
  execs_.clear();
  puts_.clear();
  for (auto& [id, g] : gets_) *g = true;
  gets_.clear();
}

void Agent::Dispatch(pb::Frame& f) {
  const uint64_t id = f.stream_id();
  if (id != 0 && id % 2 == 0) return inference_.Deliver(f);  // guest-opened streams
  for (auto it = execs_.begin(); it != execs_.end();) {      // forget finished execs
    it = it->second->done() ? execs_.erase(it) : std::next(it);
  }
  switch (f.body_case()) {
    case pb::Frame::kWelcome:
      return OnWelcome(f.welcome());
    case pb::Frame::kQuiesce:
      return OnQuiesce();
    case pb::Frame::kPing:
      return OnPing(f.ping());
    case pb::Frame::kShutdown:
      OnShutdown(f.shutdown());
    case pb::Frame::kExecRequest: {
      auto s = std::make_shared<ExecSession>(id, f.exec_request(), env_, *this);
      execs_[id] = s;
      s->Start();
      return;
    }
    case pb::Frame::kExecStdin:
      if (auto it = execs_.find(id); it != execs_.end()) it->second->PushStdin(f.exec_stdin());
      return;
    case pb::Frame::kFilePut:
      if (auto s = FilePutSession::Begin(id, f.file_put(), *this)) puts_[id] = std::move(s);
      return;
    case pb::Frame::kFileData:
      if (auto it = puts_.find(id); it != puts_.end() && !it->second->Write(f.file_data())) {
        puts_.erase(it);  // answered: the file is in place, or nothing is
      }
      return;
    case pb::Frame::kFileGet: {
      auto cancelled = std::make_shared<std::atomic<bool>>(false);
      gets_[id] = cancelled;
      if (gets_.size() > 64) gets_.erase(gets_.begin());
      StartFileGet(id, f.file_get(), *this, cancelled);
      return;
    }
    case pb::Frame::kCancel:
      if (auto it = execs_.find(id); it != execs_.end()) it->second->Cancel();
      puts_.erase(id);
      if (auto it = gets_.find(id); it != gets_.end()) *it->second = true;
      return;
    case pb::Frame::kPong:
    case pb::Frame::kError:
      return;
    default:
      if (id != 0) {
        Send(ErrorFrame(id, kUnimplemented,
                        "clawos-agent " + std::string(kAgentVersion) + " does not handle frame " +
                            std::to_string(f.body_case())));
      }
      return;
  }
}

void Agent::OnWelcome(const pb::Welcome& w) {
  // Randomness first: whatever follows (and every command) draws on a CRNG
  // that no other VM restored from the same template shares.
  std::string error;
  if (!w.entropy().empty() && !AddEntropy(w.entropy(), &error)) Log("error", error);
  if (!w.hostname().empty() && !SetIdentity(w.hostname(), w.machine_id(), &error)) {
    Log("error", error);
  }
  SetClock(w.host_time().seconds() * 1000000000LL + w.host_time().nanos());
  welcomed_ = true;
  env_.clear();
  for (const auto& [k, v] : w.env()) env_[k] = v;
  if (!MountDisks(&error)) {
    // A disk of the VM that is there and does not mount: the VM must not
    // run on its read-only root as if all were well.
    Log("error", error);
    Send(ErrorFrame(0, kInternal, error));
    return;
  }
  std::string ws = MountedType("/workspace");
  if (ws == "none") Log("warn", "/workspace is not mounted; commands run on the root");
  Log("info", "welcomed as " + w.vm() + " (release " + release_ + ", /workspace " + ws + ")");
  if (w.inference_enabled() && !inference_.started()) {
    if (!BringUpLoopback(&error) || !inference_.Start(kInferencePort, &error)) {
      Log("error", "inference endpoint: " + error);
    } else {
      Log("info", "inference endpoint on 127.0.0.1:" + std::to_string(kInferencePort));
    }
  }
  pb::Frame ready;
  SetNow(ready.mutable_ready()->mutable_ready_time());
  Send(ready);
}

void Agent::OnQuiesce() {
  // A template must hold nothing of any VM: only a guest never welcomed
  // (no disks, no identity, no environment) may become one.
  if (welcomed_) {
    Send(ErrorFrame(0, kFailedPrecondition, "this guest was welcomed; it cannot be a template"));
    return;
  }
  std::string error;
  if (!DropCaches(&error)) {
    Send(ErrorFrame(0, kInternal, error));
    return;
  }
  pb::Frame done;
  done.mutable_quiesced();
  if (Send(done)) quiesced_ = true;
}

void Agent::OnPing(const pb::Ping& p) {
  pb::Frame f;
  auto* pong = f.mutable_pong();
  pong->set_nonce(p.nonce());
  int64_t up = UptimeMs();
  pong->mutable_uptime()->set_seconds(up / 1000);
  pong->mutable_uptime()->set_nanos(static_cast<int32_t>(up % 1000) * 1000000);
  pong->set_memory_available_bytes(MemAvailableBytes());
  pong->set_workspace_free_bytes(FreeBytes("/workspace"));
  uint32_t running = 0;
  for (auto& [id, e] : execs_) running += e->done() ? 0 : 1;
  pong->set_running_execs(running);
  Send(f);
}

void Agent::OnShutdown(const pb::Shutdown& s) {
  int64_t grace_ms =
      s.has_grace() ? s.grace().seconds() * 1000 + s.grace().nanos() / 1000000 : 10000;
  Log("info", "shutting down on request");
  for (auto& [id, e] : execs_) e->Signal(SIGTERM);
  for (int64_t waited = 0; waited < grace_ms; waited += 50) {
    bool any = false;
    for (auto& [id, e] : execs_) any |= !e->done();
    if (!any) break;
    ::usleep(50 * 1000);
  }
  for (auto& [id, e] : execs_) e->Signal(SIGKILL);
  PowerOff();
}

}  // namespace clawos::agent
