#include "common/http/server.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <set>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "common/guarded.h"
#include "common/http/http1.h"
#include "common/http/timed_socket.h"
#include "common/json.h"
#include "common/log.h"

namespace clawos::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

std::string Request::Header(const std::string& name) const { return FindHeader(headers, name); }

namespace {

// Writes the handler's answer on the connection: whole (Content-Length) or
// chunked as the stream arrives.
class ConnectionSink : public ResponseSink {
 public:
  ConnectionSink(TimedSocket& s, bool keep_alive) : s_(s), keep_alive_(keep_alive) {}
  bool Head(int status, const std::vector<std::pair<std::string, std::string>>& headers,
            bool streamed) override {
    res_.result(static_cast<unsigned>(status));
    res_.version(11);
    for (const auto& [k, v] : headers) res_.set(k, v);
    res_.keep_alive(keep_alive_);
    streamed_ = streamed;
    if (!streamed) return true;
    wrote_ = true;
    bhttp::response<bhttp::empty_body> head{res_.result(), 11};
    head.base() = res_.base();
    head.chunked(true);
    bhttp::response_serializer<bhttp::empty_body> sr{head};
    beast::error_code ec;
    bhttp::write_header(s_, sr, ec);
    return Ok(ec);
  }
  bool Body(const std::string& data) override {
    if (!streamed_) {
      res_.body() += data;
      return true;
    }
    if (data.empty()) return ok_;
    beast::error_code ec;
    net::write(s_, bhttp::make_chunk(net::buffer(data)), ec);
    return Ok(ec);
  }
  bool End() override {
    beast::error_code ec;
    wrote_ = true;
    if (streamed_) {
      net::write(s_, bhttp::make_chunk_last(), ec);
    } else {
      res_.prepare_payload();
      bhttp::write(s_, res_, ec);
    }
    return Ok(ec);
  }
  bool ok() const { return ok_; }
  // Whether any of the answer went on the wire (after that, no other answer can).
  bool wrote() const { return wrote_; }

 private:
  bool Ok(const beast::error_code& ec) {
    if (ec) ok_ = false;
    return ok_;
  }
  TimedSocket& s_;
  bool keep_alive_;
  bool streamed_ = false;
  bool ok_ = true;
  bool wrote_ = false;
  bhttp::response<bhttp::string_body> res_;
};

void Reply(TimedSocket& s, unsigned status, const std::string& message) {
  bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "application/json");
  std::string type = status >= 500 ? "api_error" : "invalid_request_error";
  res.body() = json::Dump(nlohmann::json{{"error", {{"message", message}, {"type", type}}}});
  res.keep_alive(false);
  res.prepare_payload();
  beast::error_code ec;
  bhttp::write(s, res, ec);
}

}  // namespace

struct Server::Impl {
  net::io_context io;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::thread accept_thread;
  std::atomic<bool> stopping{false};
  std::atomic<int> connections{0};
  std::mutex open_mu;
  std::set<int> open_fds;  // connections being served, for Stop() to shut down
  ServerOptions options;
  RequestHandler* handler = nullptr;

  void Serve(tcp::socket sock) {
    const int fd = sock.native_handle();
    {
      std::lock_guard lock(open_mu);
      open_fds.insert(fd);
    }
    absl::Cleanup unregister = [this, fd] {
      std::lock_guard lock(open_mu);
      open_fds.erase(fd);
    };
    // Every read and write, including waiting for the next request on a
    // kept-alive connection, ends after io_timeout.
    BlockingReads blocking;
    TimedSocket s(
        sock, static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(options.io_timeout))),
        &blocking);
    beast::flat_buffer buffer;
    const auto request_timeout =
        std::chrono::milliseconds(absl::ToInt64Milliseconds(options.request_timeout));
    const auto idle_timeout =
        std::chrono::milliseconds(absl::ToInt64Milliseconds(options.idle_timeout));
    for (;;) {
      // The keep-alive wait for a request is bounded by idle_timeout; once
      // its first byte is here, the whole head and body by request_timeout.
      s.set_deadline(std::chrono::steady_clock::now() + idle_timeout);
      if (buffer.size() == 0) {
        beast::error_code wait_ec;
        size_t n = s.read_some(buffer.prepare(16 << 10), wait_ec);
        if (wait_ec) break;  // closed, reset or idle past io_timeout
        buffer.commit(n);
      }
      s.set_deadline(std::chrono::steady_clock::now() + request_timeout);
      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
      parser.body_limit(options.max_body_bytes);
      beast::error_code ec;
      bhttp::read(s, buffer, parser, ec);
      s.clear_deadline();
      if (ec == bhttp::error::end_of_stream || ec == net::error::eof ||
          ec == net::error::connection_reset) {
        break;
      }
      if (ec == net::error::timed_out) {
        Reply(s, 408,
              absl::StrCat("the request did not arrive within ",
                           absl::FormatDuration(options.request_timeout)));
        break;
      }
      if (ec == bhttp::error::body_limit) {
        Reply(s, 413, "the request body is over 8 MiB");
        break;
      }
      if (ec == bhttp::error::header_limit) {
        Reply(s, 431, "the request headers are too large");
        break;
      }
      if (ec) {  // malformed, including CR/LF smuggled into a header value
        Reply(s, 400, absl::StrCat("malformed request: ", ec.message()));
        break;
      }
      const auto& msg = parser.get();
      Request req;
      req.method = std::string(msg.method_string());
      req.target = std::string(msg.target());
      for (const auto& f : msg) req.headers.emplace_back(f.name_string(), f.value());
      req.body = msg.body();
      ConnectionSink sink(s, msg.keep_alive() && !stopping);
      if (!RunGuarded("http handler", [&] { handler->Handle(req, sink); })) {
        if (!sink.wrote())
          Reply(s, 500, "internal error: the request failed; see the daemon's log");
        break;
      }
      if (!sink.ok() || !msg.keep_alive() || stopping) break;
    }
    beast::error_code ec;
    sock.shutdown(tcp::socket::shutdown_both, ec);
  }
};

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options,
                                                      RequestHandler& handler) {
  std::unique_ptr<Server> srv(new Server);
  srv->impl_ = std::make_unique<Impl>();
  Impl& i = *srv->impl_;
  i.options = options;
  i.handler = &handler;
  beast::error_code ec;
  auto addr = net::ip::make_address(options.host, ec);
  if (ec)
    return absl::InvalidArgumentError(
        absl::StrCat("listen host ", options.host, ": ", ec.message()));
  tcp::endpoint ep{addr, static_cast<unsigned short>(options.port)};
  i.acceptor = std::make_unique<tcp::acceptor>(i.io);
  i.acceptor->open(ep.protocol(), ec);
  if (!ec) i.acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) i.acceptor->bind(ep, ec);
  if (!ec) i.acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.host, ":", options.port, ": ", ec.message()));
  }
  srv->port_ = i.acceptor->local_endpoint().port();
  i.accept_thread = std::thread([&i] {
    while (!i.stopping) {
      beast::error_code aec;
      tcp::socket s(i.io);
      i.acceptor->accept(s, aec);
      if (aec) {
        if (i.stopping) break;
        continue;
      }
      if (i.connections >= i.options.max_connections) {
        TimedSocket ts(s, 1000);
        Reply(ts, 503, "the proxy is at its connection limit");
        continue;
      }
      ++i.connections;
      auto sock = std::make_shared<tcp::socket>(std::move(s));
      auto t = StartThread("http connection", [&i, sock] {
        absl::Cleanup done = [&i] { --i.connections; };
        i.Serve(std::move(*sock));
      });
      if (!t.ok()) {  // no thread to be had: refuse this one, keep serving the rest
        --i.connections;
        TimedSocket ts(*sock, 1000);
        Reply(ts, 503, "the server cannot take more connections now");
        continue;
      }
      t->detach();
    }
  });
  return srv;
}

void Server::Stop() {
  if (!impl_ || impl_->stopping.exchange(true)) return;
  beast::error_code ec;
  impl_->acceptor->cancel(ec);
  ::shutdown(impl_->acceptor->native_handle(), SHUT_RDWR);
  impl_->acceptor->close(ec);
  if (impl_->accept_thread.joinable()) impl_->accept_thread.join();
  // Requests in progress get 5 s to finish; then every connection is shut
  // down (idle keep-alive ones at once), and Stop() returns only when no
  // thread uses the server or its handler any more.
  for (int i = 0; i < 500 && impl_->connections > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  {
    std::lock_guard lock(impl_->open_mu);
    for (int fd : impl_->open_fds) ::shutdown(fd, SHUT_RDWR);
  }
  while (impl_->connections > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

Server::~Server() { Stop(); }

}  // namespace clawos::http
