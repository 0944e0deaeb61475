#include "common/http/client.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <limits>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/http/http1.h"
#include "common/http/timed_socket.h"

namespace clawos::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

absl::StatusOr<Url> ParseUrl(const std::string& url) {
  Url u;
  std::string rest;
  if (absl::StartsWith(url, "https://")) {
    u.tls = true;
    rest = url.substr(8);
  } else if (absl::StartsWith(url, "http://")) {
    rest = url.substr(7);
  } else {
    return absl::InvalidArgumentError(absl::StrCat("upstream URL \"", url, "\" is not http(s)://"));
  }
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  u.prefix = slash == std::string::npos ? "" : rest.substr(slash);
  while (!u.prefix.empty() && u.prefix.back() == '/') u.prefix.pop_back();
  size_t colon = hostport.rfind(':');
  u.host = hostport.substr(0, colon);
  u.port = colon == std::string::npos ? (u.tls ? "443" : "80") : hostport.substr(colon + 1);
  if (u.host.empty() || u.port.empty() ||
      u.port.find_first_not_of("0123456789") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("upstream URL \"", url, "\": bad host or port"));
  }
  return u;
}

struct ClientPool::Tls {
  net::ssl::context ctx{net::ssl::context::tls_client};
};

// http: a plain socket used synchronously through TimedSocket (one system
// call per operation when the peer is quick). https: Beast's async SSL
// stream, each operation run to completion with a timeout.
struct ClientPool::Connection {
  net::io_context io;  // first: the sockets use it
  std::unique_ptr<tcp::socket> plain;
  BlockingReads blocking;  // plain: how its socket is set for blocking reads
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  absl::Time idle_since;
  // Where body pieces are read into; allocated once per connection, not per call.
  static constexpr size_t kChunk = 64 * 1024;
  std::unique_ptr<char[]> chunk{new char[kChunk]};

  tcp::socket& socket() { return secure ? beast::get_lowest_layer(*secure).socket() : *plain; }
};

ClientPool::ClientPool(Url url, size_t max_idle, absl::Duration idle_timeout)
    : url_(std::move(url)), max_idle_(max_idle), idle_timeout_(idle_timeout) {
  if (url_.tls) {
    tls_ = std::make_unique<Tls>();
    beast::error_code ec;
    if (url_.ca_file.empty()) {
      tls_->ctx.set_default_verify_paths(ec);
    } else {
      tls_->ctx.load_verify_file(url_.ca_file, ec);
    }
    if (ec) {
      tls_error_ = absl::FailedPreconditionError(
          absl::StrCat("loading the CA certificates ",
                       url_.ca_file.empty() ? "of the system" : url_.ca_file, ": ", ec.message()));
    }
    tls_->ctx.set_verify_mode(net::ssl::verify_peer);
  }
}

ClientPool::~ClientPool() = default;

size_t ClientPool::idle() const {
  std::lock_guard lock(mu_);
  return idle_.size();
}

std::unique_ptr<ClientPool::Connection> ClientPool::Take() {
  for (;;) {
    std::unique_ptr<Connection> c;
    {
      std::lock_guard lock(mu_);
      if (idle_.empty()) return nullptr;
      c = std::move(idle_.back());
      idle_.pop_back();
    }
    // Outside the lock (a system call): open with nothing pending, or else
    // closed by the peer (0), failed, or holding bytes nobody asked for: not reusable.
    if (absl::Now() - c->idle_since > idle_timeout_) continue;
    char b;
    ssize_t n = ::recv(c->socket().native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return c;
  }
}

void ClientPool::Put(std::unique_ptr<Connection> c) {
  if (max_idle_ == 0) return;
  c->idle_since = absl::Now();
  std::lock_guard lock(mu_);
  while (!idle_.empty() &&
         (idle_.size() >= max_idle_ || c->idle_since - idle_.front()->idle_since > idle_timeout_)) {
    idle_.erase(idle_.begin());  // the oldest go first
  }
  idle_.push_back(std::move(c));
}

struct ClientCall::Impl {
  std::shared_ptr<ClientPool> pool;
  std::unique_ptr<ClientPool::Connection> conn;
  std::optional<bhttp::response_parser<bhttp::buffer_body>> parser;
  std::atomic<bool> cancelled{false};
  absl::Duration timeout;
};

ClientCall::ClientCall(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ClientCall::~ClientCall() {
  Impl& i = *impl_;
  // Only a connection whose answer was read to its end, with keep-alive, can
  // carry the next request.
  if (i.conn && !i.cancelled && i.parser && i.parser->is_done() && i.parser->keep_alive() &&
      i.conn->buffer.size() == 0) {
    i.pool->Put(std::move(i.conn));
  }
}

void ClientCall::Cancel() {
  impl_->cancelled = true;
  beast::error_code ec;
  impl_->conn->socket().shutdown(tcp::socket::shutdown_both, ec);
}

namespace {

absl::Status NetError(const beast::error_code& ec, const std::string& what) {
  if (ec == beast::error::timeout || ec == net::error::timed_out) {
    return absl::DeadlineExceededError(absl::StrCat(what, ": timed out"));
  }
  return absl::UnavailableError(absl::StrCat(what, ": ", ec.message()));
}

// Synchronous operations on a beast stream with a deadline: run the async
// form on the connection's io_context until it completes or times out.
template <typename Op>
beast::error_code RunWithTimeout(net::io_context& io, Op&& op) {
  beast::error_code result;
  bool done = false;
  op([&](beast::error_code ec, auto&&...) {
    result = ec;
    done = true;
  });
  io.restart();
  while (!done && io.run_one() > 0) {
  }
  return result;
}

int Millis(absl::Duration d) {
  return static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(d), 1, 1 << 30));
}

// One operation on the connection, ending (timed out) after `timeout`:
// `plain(TimedSocket&, error_code&)` over http, `secure(ssl_stream&, handler)`
// (an async operation) over https.
template <typename Plain, typename Secure>
beast::error_code Exchange(ClientPool::Connection& c, absl::Duration timeout, Plain plain,
                           Secure secure) {
  const auto limit = std::chrono::milliseconds(Millis(timeout));
  if (c.secure) {
    beast::get_lowest_layer(*c.secure).expires_after(limit);
    return RunWithTimeout(c.io, [&](auto h) { secure(*c.secure, h); });
  }
  TimedSocket ts(*c.plain, Millis(timeout), &c.blocking);
  ts.set_deadline(std::chrono::steady_clock::now() + limit);
  beast::error_code ec;
  plain(ts, ec);
  return ec;
}

std::string Where(const Url& url) {
  return absl::StrCat(url.tls ? "https://" : "http://", url.host, ":", url.port);
}

absl::StatusOr<std::unique_ptr<ClientPool::Connection>> Connect(ClientPool& pool,
                                                                absl::Duration timeout) {
  const Url& url = pool.url();
  auto c = std::make_unique<ClientPool::Connection>();
  tcp::resolver resolver(c->io);
  beast::error_code ec;
  auto endpoints = resolver.resolve(url.host, url.port, ec);
  if (ec) return NetError(ec, absl::StrCat("resolving ", url.host));
  std::unique_ptr<beast::tcp_stream> plain;
  if (url.tls) {
    c->secure = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(c->io, pool.tls()->ctx);
    SSL_set_tlsext_host_name(c->secure->native_handle(), url.host.c_str());
    c->secure->set_verify_callback(net::ssl::host_name_verification(url.host));
  } else {
    plain = std::make_unique<beast::tcp_stream>(c->io);
  }
  beast::tcp_stream& stream = url.tls ? beast::get_lowest_layer(*c->secure) : *plain;
  auto deadline = std::chrono::milliseconds(Millis(timeout));
  stream.expires_after(deadline);
  ec = RunWithTimeout(c->io, [&](auto h) {
    stream.async_connect(endpoints, [h](auto e, auto&&) mutable { h(e); });
  });
  if (ec) return NetError(ec, absl::StrCat("connecting to ", Where(url)));
  stream.socket().set_option(tcp::no_delay(true), ec);
  if (!url.tls) {
    stream.expires_never();
    c->plain = std::make_unique<tcp::socket>(stream.release_socket());
  } else {
    stream.expires_after(deadline);
    ec = RunWithTimeout(
        c->io, [&](auto h) { c->secure->async_handshake(net::ssl::stream_base::client, h); });
    if (ec) return NetError(ec, absl::StrCat("TLS with ", Where(url)));
  }
  pool.CountConnect();
  return c;
}

// The peer closed a kept-alive connection before any of the answer came.
bool StaleConnection(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ClientCall>> ClientCall::Start(const Url& url,
                                                              const ClientRequest& r,
                                                              absl::Duration timeout) {
  return Start(std::make_shared<ClientPool>(url, 0), r, timeout);
}

absl::StatusOr<std::unique_ptr<ClientCall>> ClientCall::Start(std::shared_ptr<ClientPool> pool,
                                                              const ClientRequest& r,
                                                              absl::Duration timeout) {
  const Url& url = pool->url();
  if (!pool->tls_error().ok()) return pool->tls_error();
  bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(r.method), url.prefix + r.path, 11};
  req.set(bhttp::field::host, url.host);
  for (const auto& [k, v] : r.headers) req.set(k, v);
  req.body() = r.body;
  req.prepare_payload();
  for (int attempt = 0;; ++attempt) {
    auto impl = std::make_unique<Impl>();
    impl->pool = pool;
    impl->timeout = timeout;
    impl->conn = attempt == 0 ? pool->Take() : nullptr;
    const bool reused = impl->conn != nullptr;
    if (!reused) {
      auto c = Connect(*pool, timeout);
      if (!c.ok()) return c.status();
      impl->conn = std::move(*c);
    }
    impl->parser.emplace();
    // Streamed through, never held whole: no limit here (boost::none trips Beast 1.74).
    impl->parser->body_limit(std::numeric_limits<std::uint64_t>::max());
    Impl& i = *impl;
    beast::error_code ec = Exchange(
        *i.conn, timeout, [&](auto& ts, auto& e) { bhttp::write(ts, req, e); },
        [&](auto& ssl, auto h) { bhttp::async_write(ssl, req, h); });
    if (ec && reused && StaleConnection(ec)) continue;
    if (ec) return NetError(ec, absl::StrCat("sending to ", Where(url)));
    ec = Exchange(
        *i.conn, timeout,
        [&](auto& ts, auto& e) { bhttp::read_header(ts, i.conn->buffer, *i.parser, e); },
        [&](auto& ssl, auto h) { bhttp::async_read_header(ssl, i.conn->buffer, *i.parser, h); });
    if (ec && reused && StaleConnection(ec)) continue;
    if (ec) return NetError(ec, absl::StrCat("reading the answer of ", Where(url)));
    if (unsigned st = i.parser->get().result_int(); st < 200 || st > 599) {
      // 1xx is never asked for (no Expect, no Upgrade); outside 100-599 is not HTTP.
      return absl::UnavailableError(absl::StrCat(Where(url), " answered with status ", st,
                                                 ", not a final HTTP status (200-599)"));
    }
    std::unique_ptr<ClientCall> call(new ClientCall(std::move(impl)));
    const auto& msg = call->impl_->parser->get();
    call->head_.status = static_cast<int>(msg.result_int());
    for (const auto& f : msg) {
      std::string name(f.name_string());
      if (clawos::http::IsHopByHop(name) || clawos::http::EqualsIgnoreCase(name, "content-length"))
        continue;
      call->head_.headers.emplace_back(name, std::string(f.value()));
    }
    call->head_.chunked_or_streamed = msg.chunked() || !msg.has_content_length();
    return call;
  }
}

std::string ClientCall::ReadAll() {
  std::string all;
  bool done = false;
  while (!done) {
    auto piece = Read(&done);
    if (!piece.ok()) break;
    all += *piece;
  }
  return all;
}

absl::StatusOr<std::string> ClientCall::Read(bool* done) {
  Impl& i = *impl_;
  *done = false;
  if (i.parser->is_done()) {
    *done = true;
    return std::string();
  }
  char* chunk = i.conn->chunk.get();
  i.parser->get().body().data = chunk;
  i.parser->get().body().size = ClientPool::Connection::kChunk;
  beast::error_code ec = Exchange(
      *i.conn, i.timeout,
      [&](auto& ts, auto& e) { bhttp::read_some(ts, i.conn->buffer, *i.parser, e); },
      [&](auto& ssl, auto h) { bhttp::async_read_some(ssl, i.conn->buffer, *i.parser, h); });
  if (ec == bhttp::error::need_buffer) ec = {};
  if (i.cancelled) return absl::CancelledError("the call was cancelled");
  if (ec) return NetError(ec, "reading the upstream's body");
  size_t n = ClientPool::Connection::kChunk - i.parser->get().body().size;
  if (i.parser->is_done()) *done = true;
  return std::string(chunk, n);
}

}  // namespace clawos::http
