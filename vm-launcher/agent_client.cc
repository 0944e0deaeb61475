#include "vm-launcher/agent_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/sender.h"
#include "common/crypto/random.h"
#include "common/files.h"
#include "common/grpc_util.h"
#include "common/guarded.h"
#include "common/status.h"
#include "common/unix_socket.h"
#include "common/utf8.h"

namespace clawos::launcher {

constexpr size_t kMaxBufferedPerStream = 8 << 20;

struct AgentConn {
  struct Queue {
    std::deque<apb::Frame> frames;
    size_t bytes = 0;
    bool overflowed = false;
  };
  int fd = -1;
  agent::FrameReader reader;
  std::timed_mutex write_mu;
  std::mutex mu;
  std::condition_variable cv;
  bool closed = false;
  std::string close_reason;
  uint64_t next_stream = 1;        // host-opened: odd
  uint64_t last_guest_stream = 0;  // guest-opened: even, increasing
  uint64_t next_nonce = 1;
  std::map<uint64_t, Queue> streams;
  size_t queued_bytes = 0;              // all streams' unread frames
  int guest_streams = 0;                // guest-opened streams being served
  std::set<uint64_t> awaited;           // pings whose pong is wanted
  std::map<uint64_t, apb::Pong> pongs;  // only for awaited nonces
  std::thread read_thread;

  absl::Status Write(const apb::Frame& f) {
    std::string bytes = agent::EncodeFrame(f);
    if (bytes.empty()) return absl::InternalError("a frame over the channel's size limit");
    std::lock_guard lock(write_mu);
    return WriteLocked(bytes);
  }

  // Gives up without writing anything when the channel is not free for
  // `wait` (another writer is stuck on a guest that does not read) or the
  // socket cannot take a byte now (the guest is not reading).
  absl::Status TryWrite(const apb::Frame& f, absl::Duration wait) {
    std::string bytes = agent::EncodeFrame(f);
    if (bytes.empty()) return absl::InternalError("a frame over the channel's size limit");
    std::unique_lock lock(write_mu, std::defer_lock);
    if (!lock.try_lock_for(absl::ToChronoMilliseconds(wait))) {
      return absl::UnavailableError("the agent channel is busy: the guest is not reading");
    }
    return WriteLocked(bytes, /*give_up_when_full=*/true);
  }

  absl::Status WriteLocked(const std::string& bytes, bool give_up_when_full = false) {
    // A guest that takes nothing for 10 s is broken: the channel is dropped
    // (so it reconnects) rather than every writer hanging behind it.
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        off += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN && off == 0 && give_up_when_full) {
        return absl::UnavailableError("the guest is not reading its channel");
      }
      if (n < 0 && errno == EAGAIN) {
        int left = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
        pollfd p{fd, POLLOUT, 0};
        if (left > 0 && ::poll(&p, 1, left) > 0) continue;
        ::shutdown(fd, SHUT_RDWR);
        Close("the guest stopped reading the channel for 10 s");
        return absl::UnavailableError("the guest agent stopped reading its channel");
      }
      return absl::UnavailableError("the agent channel is closed");
    }
    return absl::OkStatus();
  }

  void Close(const std::string& why) {
    std::lock_guard lock(mu);
    if (!closed) close_reason = why;
    closed = true;
    cv.notify_all();
  }
};

namespace {

absl::Status ErrorStatus(const apb::Error& e) {
  int code = e.code();
  if (code <= 0 || code > 16) code = static_cast<int>(absl::StatusCode::kUnknown);
  return absl::Status(static_cast<absl::StatusCode>(code), e.message());
}

// Reads the next frame during the handshake (before the reader thread runs).
absl::StatusOr<apb::Frame> ReadFrame(AgentConn& c, absl::Time deadline,
                                     const std::function<bool()>& alive) {
  char buf[16 * 1024];
  for (;;) {
    apb::Frame f;
    std::string error;
    auto r = c.reader.Next(&f, &error);
    if (r == agent::FrameReader::Result::kFrame) return f;
    if (r == agent::FrameReader::Result::kSkipped) continue;
    if (r == agent::FrameReader::Result::kError) {
      return absl::DataLossError(absl::StrCat("the guest agent sent a bad frame: ", error));
    }
    if (absl::Now() >= deadline) return absl::DeadlineExceededError("the guest agent is silent");
    pollfd p{c.fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) {
      if (alive && !alive()) return absl::FailedPreconditionError("the VMM exited");
      continue;
    }
    ssize_t n = ::read(c.fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {  // QEMU closes the channel as it exits: say which it was
      for (int i = 0; alive && i < 20; ++i) {
        if (!alive()) return absl::FailedPreconditionError("the VMM exited");
        absl::SleepFor(absl::Milliseconds(50));
      }
      return absl::UnavailableError("the agent channel closed");
    }
    c.reader.Feed(buf, static_cast<size_t>(n));
  }
}

}  // namespace

AgentStream::AgentStream(std::shared_ptr<AgentConn> conn, uint64_t id)
    : conn_(std::move(conn)), id_(id) {}

AgentStream::~AgentStream() {
  if (!ended_) {
    apb::Frame f;
    f.set_stream_id(id_);
    f.mutable_cancel();
    conn_->Write(f).IgnoreError();
  }
  std::lock_guard lock(conn_->mu);
  if (auto it = conn_->streams.find(id_); it != conn_->streams.end()) {
    conn_->queued_bytes -= it->second.bytes;
    conn_->streams.erase(it);
  }
}

absl::Status AgentStream::Send(apb::Frame frame) {
  frame.set_stream_id(id_);
  return conn_->Write(frame);
}

absl::StatusOr<apb::Frame> AgentStream::Next(absl::Time deadline) {
  std::unique_lock lock(conn_->mu);
  for (;;) {
    auto it = conn_->streams.find(id_);
    if (it != conn_->streams.end() && !it->second.frames.empty()) {
      apb::Frame f = std::move(it->second.frames.front());
      it->second.frames.pop_front();
      it->second.bytes -= f.ByteSizeLong();
      conn_->queued_bytes -= f.ByteSizeLong();
      if (f.has_error()) {
        ended_ = true;
        return ErrorStatus(f.error());
      }
      return f;
    }
    if (it != conn_->streams.end() && it->second.overflowed) {
      return absl::ResourceExhaustedError(
          "the stream was cancelled: the guest sent more than the launcher buffers unread");
    }
    if (conn_->closed) {
      ended_ = true;
      return absl::UnavailableError(
          absl::StrCat("the agent channel closed: ", conn_->close_reason));
    }
    if (conn_->cv.wait_until(lock, absl::ToChronoTime(deadline)) == std::cv_status::timeout &&
        absl::Now() >= deadline) {
      return absl::DeadlineExceededError("the guest agent did not answer in time");
    }
  }
}

namespace {

// Connects to `socket` (retrying while the VMM starts) and reads the guest's
// Hello (log lines may come first; they go to `on_log`).
absl::Status OpenChannel(AgentConn& conn, const std::string& socket, absl::Time deadline,
                         const std::function<bool()>& alive,
                         const std::function<void(const apb::LogLine&)>& on_log,
                         apb::Hello* hello) {
  while (true) {
    auto fd = ConnectUnixSocket(socket);
    if (fd.ok()) {
      conn.fd = *fd;
      break;
    }
    if (fd.status().code() == absl::StatusCode::kInvalidArgument) return fd.status();
    if (alive && !alive()) {
      return absl::FailedPreconditionError("the VMM exited before the agent channel opened");
    }
    if (absl::Now() >= deadline)
      return absl::DeadlineExceededError("the agent channel never opened");
    absl::SleepFor(absl::Milliseconds(5));
  }
  // A guest restored from a template may still be in its template's session:
  // any frame tells it this is a new host (agent.proto, "Templates").
  apb::Frame nudge;
  nudge.mutable_ping()->set_nonce(0);
  RETURN_IF_ERROR(conn.Write(nudge));
  for (;;) {
    ASSIGN_OR_RETURN(apb::Frame f, ReadFrame(conn, deadline, alive));
    if (f.has_log_line()) {
      if (on_log) on_log(f.log_line());
      continue;
    }
    if (!f.has_hello()) continue;
    *hello = f.hello();
    break;
  }
  if (hello->protocol_version() != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the guest agent speaks protocol ", hello->protocol_version(), "; this launcher speaks 1"));
  }
  return absl::OkStatus();
}

// Waits for the control-stream frame `want` names, passing log lines on; an
// Error frame on the control stream is the guest's refusal.
absl::Status AwaitControl(AgentConn& conn, absl::Time deadline, const std::function<bool()>& alive,
                          const std::function<void(const apb::LogLine&)>& on_log,
                          apb::Frame::BodyCase want) {
  for (;;) {
    ASSIGN_OR_RETURN(apb::Frame f, ReadFrame(conn, deadline, alive));
    if (f.body_case() == want) return absl::OkStatus();
    if (f.stream_id() == 0 && f.has_error()) {
      int code = f.error().code();  // the guest's word: bounded, made safe
      return absl::Status(
          code > 0 && code <= 16 ? static_cast<absl::StatusCode>(code) : absl::StatusCode::kUnknown,
          absl::StrCat("the guest refused: ", ToSafeText(f.error().message(), 300)));
    }
    if (f.has_log_line() && on_log) on_log(f.log_line());
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<AgentClient>> AgentClient::Connect(
    const std::string& socket, Options options, absl::Time deadline,
    const std::function<bool()>& alive) {
  auto conn = std::make_shared<AgentConn>();
  std::unique_ptr<AgentClient> c(new AgentClient);
  c->conn_ = conn;
  c->options_ = std::move(options);
  auto fail = [&](absl::Status s) {
    if (conn->fd >= 0) ::close(conn->fd);
    conn->fd = -1;
    return s;
  };
  const auto& on_log = c->options_.on_log;
  if (auto s = OpenChannel(*conn, socket, deadline, alive, on_log, &c->hello_); !s.ok()) {
    return fail(s);
  }
  apb::Frame welcome;
  auto* w = welcome.mutable_welcome();
  w->set_protocol_version(1);
  w->set_vm(c->options_.vm);
  for (const auto& [k, v] : c->options_.env) (*w->mutable_env())[k] = v;
  *w->mutable_host_time() = ToProtoTime(absl::Now());
  w->set_inference_enabled(c->options_.inference_enabled);
  w->set_hostname(c->options_.hostname);
  w->set_machine_id(c->options_.machine_id);
  auto entropy = crypto::RandomBytes(64);
  if (!entropy.ok()) return fail(entropy.status());
  w->set_entropy(std::string(entropy->begin(), entropy->end()));
  if (auto s = conn->Write(welcome); !s.ok()) return fail(s);
  if (auto s = AwaitControl(*conn, deadline, alive, on_log, apb::Frame::kReady); !s.ok()) {
    return fail(s);
  }
  AgentClient* self = c.get();
  auto reader = StartThread("agent channel reader", [self] { self->ReadLoop(); });
  if (!reader.ok()) return fail(reader.status());
  conn->read_thread = std::move(*reader);
  return c;
}

absl::Status AgentClient::Quiesce(const std::string& socket, absl::Time deadline,
                                  const std::function<bool()>& alive,
                                  const std::function<void(const apb::LogLine&)>& on_log) {
  AgentConn conn;
  absl::Cleanup close_fd = [&conn] {
    if (conn.fd >= 0) ::close(conn.fd);
  };
  apb::Hello hello;
  RETURN_IF_ERROR(OpenChannel(conn, socket, deadline, alive, on_log, &hello));
  const auto& f = hello.features();
  if (std::find(f.begin(), f.end(), "quiesce") == f.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the image's agent (", ToSafeText(hello.agent_version(), 40),
                     ") cannot be quiesced for a template: rebuild the image"));
  }
  apb::Frame quiesce;
  quiesce.mutable_quiesce();
  RETURN_IF_ERROR(conn.Write(quiesce));
  return AwaitControl(conn, deadline, alive, on_log, apb::Frame::kQuiesced);
}

AgentClient::~AgentClient() {
  if (!conn_) return;
  if (conn_->fd >= 0) ::shutdown(conn_->fd, SHUT_RDWR);
  if (conn_->read_thread.joinable()) conn_->read_thread.join();
  conn_->Close("the launcher let go of the VM");
  std::lock_guard lock(conn_->write_mu);
  if (conn_->fd >= 0) ::close(conn_->fd);
  conn_->fd = -1;
}

bool AgentClient::connected() const {
  std::lock_guard lock(conn_->mu);
  return !conn_->closed;
}

namespace {

// A frame on the control stream (id 0): a pong someone waits for, or a log line.
void OnControlFrame(AgentConn& c, const AgentClient::Options& o, apb::Frame& f) {
  if (f.has_pong()) {
    std::lock_guard lock(c.mu);
    if (c.awaited.count(f.pong().nonce()) == 0) return;  // unsolicited: dropped
    c.pongs[f.pong().nonce()] = f.pong();
    c.cv.notify_all();
  } else if (f.has_log_line() && o.on_log) {
    o.on_log(f.log_line());
  }
}

void Refuse(AgentConn& c, uint64_t id, absl::StatusCode code, const std::string& why) {
  c.Write(agent::ErrorFrame(id, static_cast<int>(code), why)).IgnoreError();
}

// The guest opened stream `id` with `first`: a thread serves it, if the
// per-VM and launcher-wide caps allow one.
void OnGuestStream(const std::shared_ptr<AgentConn>& conn, const AgentClient::Options& o,
                   uint64_t id, apb::Frame first) {
  AgentConn& c = *conn;
  if (!o.on_guest_stream) {
    return Refuse(c, id, absl::StatusCode::kUnimplemented, "this VM has no inference tunnel");
  }
  std::string refusal;  // sent after c.mu is let go (Write may take it)
  {
    std::lock_guard lock(c.mu);
    if (c.guest_streams >= o.max_guest_streams) {
      refusal = absl::StrCat("this VM already has ", o.max_guest_streams,
                             " streams open (the launcher's cap)");
    } else if (o.guest_stream_slots && !o.guest_stream_slots->TryTake()) {
      refusal = "the launcher is serving as many guest streams as it allows; retry later";
    } else {
      ++c.guest_streams;
      c.streams[id];
    }
  }
  if (!refusal.empty()) return Refuse(c, id, absl::StatusCode::kResourceExhausted, refusal);
  auto release = [conn, slots = o.guest_stream_slots] {
    std::lock_guard lock(conn->mu);
    --conn->guest_streams;
    if (slots) slots->Give();
  };
  auto stream =
      std::make_shared<std::unique_ptr<AgentStream>>(std::make_unique<AgentStream>(conn, id));
  auto frame = std::make_shared<apb::Frame>(std::move(first));
  auto t = StartThread("guest stream", [handler = o.on_guest_stream, stream, frame, release] {
    absl::Cleanup done = release;
    handler(std::move(*stream), std::move(*frame));
  });
  if (!t.ok()) {
    stream->reset();  // cancels it
    release();
    return Refuse(c, id, absl::StatusCode::kResourceExhausted,
                  "the launcher cannot start a thread for this stream now");
  }
  t->detach();
}

// A frame for a stream that exists: queued for its reader, unless the
// stream's or the channel's unread bytes would pass their bound (then the
// stream is cancelled and its reader told).
void Enqueue(AgentConn& c, const AgentClient::Options& o, apb::Frame f,
             std::unique_lock<std::mutex>& lock) {
  const uint64_t id = f.stream_id();
  auto it = c.streams.find(id);
  if (it == c.streams.end()) return;  // an ended stream: ignored
  AgentConn::Queue& q = it->second;
  if (q.overflowed) return;
  const size_t size = f.ByteSizeLong();
  if (q.bytes + size > kMaxBufferedPerStream || c.queued_bytes + size > o.max_queued_bytes) {
    q.overflowed = true;
    apb::Frame cancel;
    cancel.set_stream_id(id);
    cancel.mutable_cancel();
    c.cv.notify_all();
    lock.unlock();
    c.Write(cancel).IgnoreError();
    lock.lock();
    return;
  }
  q.bytes += size;
  c.queued_bytes += size;
  q.frames.push_back(std::move(f));
  c.cv.notify_all();
}

}  // namespace

void AgentClient::ReadLoop() {
  AgentConn& c = *conn_;
  char buf[64 * 1024];
  std::string why = "the guest closed it";
  // Hang up for real, whatever ends the loop, so the guest sees it and says
  // Hello to the next connection, and every waiting reader is told.
  absl::Cleanup hang_up = [&c, &why] {
    ::shutdown(c.fd, SHUT_RDWR);
    c.Close(why);
  };
  for (;;) {
    apb::Frame f;
    std::string error;
    auto r = c.reader.Next(&f, &error);
    if (r == agent::FrameReader::Result::kError) {
      why = "bad frame from the guest: " + error;
      return;
    }
    if (r == agent::FrameReader::Result::kSkipped) {
      ++skipped_frames_;  // the guest's own loss; nothing to log per frame
      continue;
    }
    if (r == agent::FrameReader::Result::kNeedMore) {
      ssize_t n = ::read(c.fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      c.reader.Feed(buf, static_cast<size_t>(n));
      continue;
    }
    const uint64_t id = f.stream_id();
    if (id == 0) {
      OnControlFrame(c, options_, f);
      continue;
    }
    std::unique_lock lock(c.mu);
    if (c.streams.count(id) == 0 && id % 2 == 0 && id > c.last_guest_stream) {
      c.last_guest_stream = id;  // a guest-opened stream begins
      lock.unlock();
      OnGuestStream(conn_, options_, id, std::move(f));
      continue;
    }
    Enqueue(c, options_, std::move(f), lock);
  }
}

absl::StatusOr<uint64_t> AgentClient::SendPing(absl::Duration lock_wait) {
  uint64_t nonce;
  {
    std::lock_guard lock(conn_->mu);
    if (conn_->closed) return absl::UnavailableError("the agent channel closed");
    nonce = conn_->next_nonce++;
    conn_->awaited.insert(nonce);
  }
  apb::Frame f;
  f.mutable_ping()->set_nonce(nonce);
  if (auto s = conn_->TryWrite(f, lock_wait); !s.ok()) {
    ForgetPing(nonce);
    return s;
  }
  return nonce;
}

std::optional<apb::Pong> AgentClient::TakePong(uint64_t nonce) {
  std::lock_guard lock(conn_->mu);
  auto it = conn_->pongs.find(nonce);
  if (it == conn_->pongs.end()) return std::nullopt;
  apb::Pong p = std::move(it->second);
  conn_->pongs.erase(it);
  conn_->awaited.erase(nonce);
  return p;
}

void AgentClient::ForgetPing(uint64_t nonce) {
  std::lock_guard lock(conn_->mu);
  conn_->pongs.erase(nonce);
  conn_->awaited.erase(nonce);
}

absl::StatusOr<apb::Pong> AgentClient::Ping(absl::Duration timeout) {
  ASSIGN_OR_RETURN(uint64_t nonce, SendPing(timeout));
  absl::Cleanup forget = [this, nonce] { ForgetPing(nonce); };
  absl::Time deadline = absl::Now() + timeout;
  std::unique_lock lock(conn_->mu);
  while (true) {
    if (auto it = conn_->pongs.find(nonce); it != conn_->pongs.end()) return it->second;
    if (conn_->closed) return absl::UnavailableError("the agent channel closed");
    if (conn_->cv.wait_until(lock, absl::ToChronoTime(deadline)) == std::cv_status::timeout &&
        absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("the guest agent did not answer a ping in ", absl::FormatDuration(timeout)));
    }
  }
}

int AgentClient::guest_streams() const {
  std::lock_guard lock(conn_->mu);
  return conn_->guest_streams;
}

size_t AgentClient::queued_bytes() const {
  std::lock_guard lock(conn_->mu);
  return conn_->queued_bytes;
}

size_t AgentClient::pending_pongs() const {
  std::lock_guard lock(conn_->mu);
  return conn_->pongs.size() + conn_->awaited.size();
}

bool Slots::TryTake() {
  std::lock_guard lock(mu_);
  if (used_ >= max_) return false;
  ++used_;
  return true;
}

void Slots::Give() {
  std::lock_guard lock(mu_);
  if (used_ > 0) --used_;
}

int Slots::used() const {
  std::lock_guard lock(mu_);
  return used_;
}

absl::Status AgentClient::Shutdown(absl::Duration grace) {
  apb::Frame f;
  *f.mutable_shutdown()->mutable_grace() = ToProtoDuration(grace);
  return conn_->Write(f);
}

std::unique_ptr<AgentStream> AgentClient::OpenStream() {
  uint64_t id;
  {
    std::lock_guard lock(conn_->mu);
    id = conn_->next_stream;
    conn_->next_stream += 2;
    conn_->streams[id];
  }
  return std::make_unique<AgentStream>(conn_, id);
}

}  // namespace clawos::launcher
