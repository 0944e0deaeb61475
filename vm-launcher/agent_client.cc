#include "vm-launcher/agent_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/sender.h"
#include "common/files.h"
#include "common/grpc_util.h"
#include "common/status.h"
#include "common/unix_socket.h"

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
  std::mutex write_mu;
  std::mutex mu;
  std::condition_variable cv;
  bool closed = false;
  std::string close_reason;
  uint64_t next_stream = 1;        // host-opened: odd
  uint64_t last_guest_stream = 0;  // guest-opened: even, increasing
  uint64_t next_nonce = 1;
  std::map<uint64_t, Queue> streams;
  std::map<uint64_t, apb::Pong> pongs;
  std::thread read_thread;

  absl::Status Write(const apb::Frame& f) {
    std::string bytes = agent::EncodeFrame(f);
    if (bytes.empty()) return absl::InternalError("a frame over the channel's size limit");
    std::lock_guard lock(write_mu);
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
  conn_->streams.erase(id_);
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
      if (f.has_error()) {
        ended_ = true;
        return ErrorStatus(f.error());
      }
      return f;
    }
    if (it != conn_->streams.end() && it->second.overflowed) {
      return absl::ResourceExhaustedError("the stream buffered more than 8 MiB unread");
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

absl::StatusOr<std::unique_ptr<AgentClient>> AgentClient::Connect(
    const std::string& socket, Options options, absl::Time deadline,
    const std::function<bool()>& alive) {
  auto conn = std::make_shared<AgentConn>();
  while (true) {
    auto fd = ConnectUnixSocket(socket);
    if (fd.ok()) {
      conn->fd = *fd;
      break;
    }
    if (fd.status().code() == absl::StatusCode::kInvalidArgument) return fd.status();
    if (alive && !alive()) {
      return absl::FailedPreconditionError("the VMM exited before the agent channel opened");
    }
    if (absl::Now() >= deadline)
      return absl::DeadlineExceededError("the agent channel never opened");
    absl::SleepFor(absl::Milliseconds(20));
  }
  std::unique_ptr<AgentClient> c(new AgentClient);
  c->conn_ = conn;
  c->options_ = std::move(options);
  auto fail = [&](absl::Status s) {
    ::close(conn->fd);
    conn->fd = -1;
    return s;
  };
  // Hello (log lines may come first).
  for (;;) {
    auto f = ReadFrame(*conn, deadline, alive);
    if (!f.ok()) return fail(f.status());
    if (f->has_log_line()) {
      if (c->options_.on_log) c->options_.on_log(f->log_line());
      continue;
    }
    if (!f->has_hello()) continue;
    c->hello_ = f->hello();
    break;
  }
  if (c->hello_.protocol_version() != 1) {
    return fail(absl::FailedPreconditionError(absl::StrCat("the guest agent speaks protocol ",
                                                           c->hello_.protocol_version(),
                                                           "; this launcher speaks 1")));
  }
  apb::Frame welcome;
  auto* w = welcome.mutable_welcome();
  w->set_protocol_version(1);
  w->set_vm(c->options_.vm);
  for (const auto& [k, v] : c->options_.env) (*w->mutable_env())[k] = v;
  *w->mutable_host_time() = ToProtoTime(absl::Now());
  w->set_inference_enabled(c->options_.inference_enabled);
  if (auto s = conn->Write(welcome); !s.ok()) return fail(s);
  for (;;) {
    auto f = ReadFrame(*conn, deadline, alive);
    if (!f.ok()) return fail(f.status());
    if (f->has_ready()) break;
    if (f->has_log_line() && c->options_.on_log) c->options_.on_log(f->log_line());
  }
  AgentClient* self = c.get();
  conn->read_thread = std::thread([self] { self->ReadLoop(); });
  return c;
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

void AgentClient::ReadLoop() {
  AgentConn& c = *conn_;
  char buf[64 * 1024];
  std::string why = "the guest closed it";
  for (;;) {
    apb::Frame f;
    std::string error;
    auto r = c.reader.Next(&f, &error);
    if (r == agent::FrameReader::Result::kError) {
      why = "bad frame from the guest: " + error;
      break;
    }
    if (r == agent::FrameReader::Result::kNeedMore) {
      ssize_t n = ::read(c.fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      c.reader.Feed(buf, static_cast<size_t>(n));
      continue;
    }
    const uint64_t id = f.stream_id();
    if (id == 0) {
      if (f.has_pong()) {
        std::lock_guard lock(c.mu);
        c.pongs[f.pong().nonce()] = f.pong();
        c.cv.notify_all();
      } else if (f.has_log_line() && options_.on_log) {
        options_.on_log(f.log_line());
      }
      continue;
    }
    std::unique_lock lock(c.mu);
    auto it = c.streams.find(id);
    if (it == c.streams.end() && id % 2 == 0 && id > c.last_guest_stream) {
      c.last_guest_stream = id;  // a guest-opened stream begins
      lock.unlock();
      if (!options_.on_guest_stream) {
        c.Write(agent::ErrorFrame(id, static_cast<int>(absl::StatusCode::kUnimplemented),
                                  "this VM has no inference tunnel"))
            .IgnoreError();
        continue;
      }
      {
        std::lock_guard relock(c.mu);
        c.streams[id];
      }
      auto stream = std::make_unique<AgentStream>(conn_, id);
      std::thread([handler = options_.on_guest_stream, s = std::move(stream),
                   first = std::move(f)]() mutable {
        handler(std::move(s), std::move(first));
      }).detach();
      continue;
    }
    if (it == c.streams.end()) continue;  // an ended stream: ignored
    AgentConn::Queue& q = it->second;
    if (q.overflowed) continue;
    q.bytes += f.ByteSizeLong();
    if (q.bytes > kMaxBufferedPerStream) {
      q.overflowed = true;
      apb::Frame cancel;
      cancel.set_stream_id(id);
      cancel.mutable_cancel();
      lock.unlock();
      c.Write(cancel).IgnoreError();
      lock.lock();
    } else {
      q.frames.push_back(std::move(f));
    }
    c.cv.notify_all();
  }
  // Hang up for real, so the guest sees it and says Hello to the next connection.
  ::shutdown(c.fd, SHUT_RDWR);
  c.Close(why);
}

absl::StatusOr<apb::Pong> AgentClient::Ping(absl::Duration timeout) {
  uint64_t nonce;
  {
    std::lock_guard lock(conn_->mu);
    nonce = conn_->next_nonce++;
  }
  apb::Frame f;
  f.mutable_ping()->set_nonce(nonce);
  RETURN_IF_ERROR(conn_->Write(f));
  absl::Time deadline = absl::Now() + timeout;
  std::unique_lock lock(conn_->mu);
  while (true) {
    if (auto it = conn_->pongs.find(nonce); it != conn_->pongs.end()) {
      apb::Pong p = it->second;
      conn_->pongs.erase(it);
      return p;
    }
    if (conn_->closed) return absl::UnavailableError("the agent channel closed");
    if (conn_->cv.wait_until(lock, absl::ToChronoTime(deadline)) == std::cv_status::timeout &&
        absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("the guest agent did not answer a ping in ", absl::FormatDuration(timeout)));
    }
  }
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
