#include "monitor/siem_sink.h"

#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"
#include "common/tcp_socket.h"
#include "monitor/cef.h"
#include "monitor/syslog_message.h"

namespace clawos::monitor {
namespace {

namespace pb = ::clawos::monitor::v1;

std::string SslError(const std::string& what) {
  unsigned long e = ERR_get_error();
  char buf[256] = "unknown error";
  if (e) ERR_error_string_n(e, buf, sizeof(buf));
  ERR_clear_error();
  return absl::StrCat(what, ": ", buf);
}

absl::StatusOr<int> ConnectUdp(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res); rc != 0) {
    return absl::UnavailableError(absl::StrCat("resolving ", host, ": ", gai_strerror(rc)));
  }
  int fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int rc = fd < 0 ? -1 : connect(fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (rc != 0) {
    if (fd >= 0) close(fd);
    return absl::UnavailableError(absl::StrCat("udp ", host, ":", port, ": ", strerror(errno)));
  }
  return fd;
}

}  // namespace

absl::StatusOr<SiemConfig> ParseSiemUrl(const std::string& url) {
  SiemConfig c;
  std::string rest;
  if (absl::StartsWith(url, "udp://")) {
    c.transport = SiemConfig::Transport::kUdp;
  } else if (absl::StartsWith(url, "tcp://")) {
    c.transport = SiemConfig::Transport::kTcp;
  } else if (absl::StartsWith(url, "tls://")) {
    c.transport = SiemConfig::Transport::kTls;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("SIEM \"", url, "\": want udp://, tcp:// or tls://host:port"));
  }
  rest = url.substr(6);
  size_t colon = rest.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(rest.substr(colon + 1), &port) || port <= 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("SIEM \"", url, "\": bad host:port"));
  }
  c.host = rest.substr(0, colon);
  if (c.host.size() > 2 && c.host.front() == '[' && c.host.back() == ']') {
    c.host = c.host.substr(1, c.host.size() - 2);
  }
  c.port = port;
  return c;
}

struct SiemSink::Conn {
  int fd = -1;
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  ~Conn() {
    if (ssl) SSL_free(ssl);
    if (ctx) SSL_CTX_free(ctx);
    if (fd >= 0) close(fd);
  }
  // TCP/TLS: has the SIEM closed the connection? It never sends data, but
  // TLS 1.3 servers send session tickets after the handshake: those are
  // read (and dropped) here, not taken for a close.
  bool PeerClosed() {
    pollfd p{fd, POLLIN | POLLRDHUP, 0};
    if (poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return true;
    if (!ssl) {
      char buf[256];
      ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
      return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    }
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    char buf[256];
    int n = SSL_read(ssl, buf, sizeof(buf));
    int err = n > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl, n);
    fcntl(fd, F_SETFL, flags);
    ERR_clear_error();
    return !(n > 0 || err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE);
  }
  absl::Status Write(const std::string& data) {
    if (ssl) {
      int n = SSL_write(ssl, data.data(), static_cast<int>(data.size()));
      if (n != static_cast<int>(data.size())) {
        return absl::UnavailableError(SslError("TLS write"));
      }
      return absl::OkStatus();
    }
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return absl::UnavailableError(absl::StrCat("write: ", strerror(errno)));
      }
      off += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }
};

SiemSink::SiemSink(SiemConfig config, std::string hostname)
    : config_(std::move(config)), hostname_(std::move(hostname)) {}

absl::StatusOr<std::unique_ptr<SiemSink>> SiemSink::Start(SiemConfig config, std::string hostname) {
  if (config.host.empty() || config.port <= 0) {
    return absl::InvalidArgumentError("the SIEM needs a host and a port");
  }
  std::unique_ptr<SiemSink> s(new SiemSink(std::move(config), std::move(hostname)));
  s->thread_ = std::thread([p = s.get()] { p->Run(); });
  return s;
}

SiemSink::~SiemSink() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void SiemSink::Send(const pb::Event& e) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= config_.max_queue) {  // dropped before any formatting
      ++dropped_;
      return;
    }
  }
  std::string msg = SyslogMessage(FromProtoTime(e.time()), SyslogSeverity(e.severity()), hostname_,
                                  "CEF", FormatCef(e, hostname_));
  if (config_.transport != SiemConfig::Transport::kUdp) msg = OctetCounted(msg);
  std::lock_guard lock(mu_);
  if (queue_.size() >= config_.max_queue) {
    ++dropped_;
    return;
  }
  queue_.push_back(std::move(msg));
  if (queue_.size() == 1) wake_.notify_one();
}

bool SiemSink::Drain(absl::Duration timeout) {
  std::unique_lock lock(mu_);
  return drained_.wait_for(lock, absl::ToChronoMilliseconds(timeout),
                           [&] { return queue_.empty() && !sending_; });
}

pb::Sink SiemSink::Status() const {
  std::lock_guard lock(mu_);
  pb::Sink s;
  s.set_name("sinks/siem");
  s.set_type(pb::Sink::SYSLOG_CEF);
  s.set_transport(config_.transport == SiemConfig::Transport::kUdp   ? pb::Sink::UDP
                  : config_.transport == SiemConfig::Transport::kTcp ? pb::Sink::TCP
                                                                     : pb::Sink::TLS);
  s.set_destination(absl::StrCat(config_.host, ":", config_.port));
  bool failing = !connected_ && !last_error_.empty();
  s.set_state(failing ? pb::Sink::FAILING
              : queue_.size() > config_.max_queue / 2 ||
                      absl::Now() - last_error_time_ < absl::Minutes(1)
                  ? pb::Sink::DEGRADED
                  : pb::Sink::HEALTHY);
  s.set_events_written(written_);
  s.set_events_dropped(dropped_);
  s.set_bytes_written(bytes_);
  s.set_queue_depth(queue_.size());
  if (last_write_ != absl::InfinitePast()) *s.mutable_last_write_time() = ToProtoTime(last_write_);
  s.set_last_error(last_error_);
  if (last_error_time_ != absl::InfinitePast()) {
    *s.mutable_last_error_time() = ToProtoTime(last_error_time_);
  }
  return s;
}

void SiemSink::Run() {
  std::unique_ptr<Conn> conn;
  absl::Duration backoff = config_.reconnect_min;
  const std::string where = absl::StrCat(config_.host, ":", config_.port);
  auto fail = [&](const std::string& why) {
    std::lock_guard lock(mu_);
    last_error_ = why;
    last_error_time_ = absl::Now();
    connected_ = false;
  };
  std::unique_lock lock(mu_);
  while (true) {
    wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    std::string msg = queue_.front();
    sending_ = true;
    lock.unlock();
    if (conn && config_.transport != SiemConfig::Transport::kUdp && conn->PeerClosed()) {
      conn.reset();
      fail(absl::StrCat(where, " closed the connection"));
    }
    if (!conn) {
      auto c = std::make_unique<Conn>();
      absl::Status s = absl::OkStatus();
      if (config_.transport == SiemConfig::Transport::kUdp) {
        auto fd = ConnectUdp(config_.host, config_.port);
        if (fd.ok()) c->fd = *fd;
        s = fd.status();
      } else {
        auto fd = ConnectTcp(config_.host, config_.port, absl::Seconds(10));
        if (fd.ok()) c->fd = *fd;
        s = fd.status();
      }
      if (s.ok() && config_.transport == SiemConfig::Transport::kTls) {
        c->ctx = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
        SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, nullptr);
        bool ok = config_.ca_file.empty() ? SSL_CTX_set_default_verify_paths(c->ctx) == 1
                                          : SSL_CTX_load_verify_locations(
                                                c->ctx, config_.ca_file.c_str(), nullptr) == 1;
        if (ok && !config_.cert_file.empty()) {
          ok = SSL_CTX_use_certificate_chain_file(c->ctx, config_.cert_file.c_str()) == 1 &&
               SSL_CTX_use_PrivateKey_file(c->ctx, config_.key_file.c_str(), SSL_FILETYPE_PEM) == 1;
        }
        if (ok) {
          c->ssl = SSL_new(c->ctx);
          SSL_set_fd(c->ssl, c->fd);
          SSL_set_tlsext_host_name(c->ssl, config_.host.c_str());
          SSL_set1_host(c->ssl, config_.host.c_str());
          ok = SSL_connect(c->ssl) == 1;
        }
        if (!ok) s = absl::UnavailableError(SslError(absl::StrCat("TLS with ", where)));
      }
      if (!s.ok()) {
        fail(std::string(s.message()));
        lock.lock();
        sending_ = false;
        wake_.wait_for(lock, absl::ToChronoMilliseconds(backoff), [&] { return stop_; });
        backoff = std::min(backoff * 2, config_.reconnect_max);
        continue;
      }
      conn = std::move(c);
      backoff = config_.reconnect_min;
      std::lock_guard g(mu_);
      connected_ = true;
    }
    absl::Status w;
    if (config_.transport == SiemConfig::Transport::kUdp) {
      ssize_t n = ::send(conn->fd, msg.data(), msg.size(), 0);
      w = n == static_cast<ssize_t>(msg.size())
              ? absl::OkStatus()
              : absl::UnavailableError(absl::StrCat("udp send: ", strerror(errno)));
    } else {
      w = conn->Write(msg);
    }
    lock.lock();
    sending_ = false;
    if (!w.ok() && config_.transport != SiemConfig::Transport::kUdp) {
      lock.unlock();
      conn.reset();
      fail(absl::StrCat(where, ": ", w.message()));
      lock.lock();
      continue;  // the message stays at the front
    }
    // UDP errors (an ICMP refusal of an earlier datagram) lose that message:
    // counted as dropped, as UDP syslog does.
    queue_.pop_front();
    if (w.ok()) {
      ++written_;
      bytes_ += msg.size();
      last_write_ = absl::Now();
    } else {
      ++dropped_;
      last_error_ = std::string(w.message());
      last_error_time_ = absl::Now();
    }
    if (queue_.empty()) drained_.notify_all();
  }
}

}  // namespace clawos::monitor
