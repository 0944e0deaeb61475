#include "inference-proxy/upstream.h"

#include <sys/socket.h>
#include <sys/time.h>

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
#include "common/http/http1.h"

namespace clawos::proxy {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

absl::StatusOr<UpstreamUrl> ParseUpstreamUrl(const std::string& url) {
  UpstreamUrl u;
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

struct UpstreamCall::Impl {
  net::io_context io;
  std::optional<net::ssl::context> ssl_ctx;
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  char chunk[64 * 1024];
  std::atomic<bool> cancelled{false};
  absl::Duration timeout;

  beast::tcp_stream& tcp() { return secure ? beast::get_lowest_layer(*secure) : *plain; }

  template <typename F>
  beast::error_code Do(F op) {
    beast::error_code ec;
    tcp().expires_after(std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout)));
    op(ec);
    return ec;
  }
};

UpstreamCall::UpstreamCall(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
UpstreamCall::~UpstreamCall() = default;

void UpstreamCall::Cancel() {
  impl_->cancelled = true;
  beast::error_code ec;
  impl_->tcp().socket().shutdown(tcp::socket::shutdown_both, ec);
}

namespace {

absl::Status NetError(const beast::error_code& ec, const std::string& what) {
  if (ec == beast::error::timeout) {
    return absl::DeadlineExceededError(absl::StrCat(what, ": timed out"));
  }
  return absl::UnavailableError(absl::StrCat(what, ": ", ec.message()));
}

// Synchronous operations on a beast stream with a deadline: run the async
// form on the private io_context until it completes or times out.
template <typename Stream, typename Op>
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

}  // namespace

absl::StatusOr<std::unique_ptr<UpstreamCall>> UpstreamCall::Start(const UpstreamUrl& url,
                                                                  const UpstreamRequest& r,
                                                                  absl::Duration timeout) {
  auto impl = std::make_unique<Impl>();
  impl->timeout = timeout;
  // Streamed through, never held whole: no limit here (boost::none trips Beast 1.74).
  impl->parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  std::string where = absl::StrCat(url.tls ? "https://" : "http://", url.host, ":", url.port);
  tcp::resolver resolver(impl->io);
  beast::error_code ec;
  auto endpoints = resolver.resolve(url.host, url.port, ec);
  if (ec) return NetError(ec, absl::StrCat("resolving ", url.host));
  if (url.tls) {
    impl->ssl_ctx.emplace(net::ssl::context::tls_client);
    impl->ssl_ctx->set_default_verify_paths();
    impl->ssl_ctx->set_verify_mode(net::ssl::verify_peer);
    impl->secure = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(impl->io, *impl->ssl_ctx);
    SSL_set_tlsext_host_name(impl->secure->native_handle(), url.host.c_str());
    impl->secure->set_verify_callback(net::ssl::host_name_verification(url.host));
  } else {
    impl->plain = std::make_unique<beast::tcp_stream>(impl->io);
  }
  Impl& i = *impl;
  auto deadline = std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout));
  i.tcp().expires_after(deadline);
  ec = RunWithTimeout<beast::tcp_stream>(i.io, [&](auto h) {
    i.tcp().async_connect(endpoints, [h](auto e, auto&&) mutable { h(e); });
  });
  if (ec) return NetError(ec, absl::StrCat("connecting to ", where));
  if (url.tls) {
    i.tcp().expires_after(deadline);
    ec = RunWithTimeout<beast::tcp_stream>(
        i.io, [&](auto h) { i.secure->async_handshake(net::ssl::stream_base::client, h); });
    if (ec) return NetError(ec, absl::StrCat("TLS with ", where));
  }
  http::request<http::string_body> req{http::string_to_verb(r.method), url.prefix + r.path, 11};
  req.set(http::field::host, url.host);
  for (const auto& [k, v] : r.headers) req.set(k, v);
  req.body() = r.body;
  req.prepare_payload();
  i.tcp().expires_after(deadline);
  ec = RunWithTimeout<beast::tcp_stream>(i.io, [&](auto h) {
    if (i.secure) {
      http::async_write(*i.secure, req, h);
    } else {
      http::async_write(*i.plain, req, h);
    }
  });
  if (ec) return NetError(ec, absl::StrCat("sending to ", where));
  i.tcp().expires_after(deadline);
  ec = RunWithTimeout<beast::tcp_stream>(i.io, [&](auto h) {
    if (i.secure) {
      http::async_read_header(*i.secure, i.buffer, i.parser, h);
    } else {
      http::async_read_header(*i.plain, i.buffer, i.parser, h);
    }
  });
  if (ec) return NetError(ec, absl::StrCat("reading the answer of ", where));
  std::unique_ptr<UpstreamCall> call(new UpstreamCall(std::move(impl)));
  const auto& msg = call->impl_->parser.get();
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

absl::StatusOr<std::string> UpstreamCall::Read(bool* done) {
  Impl& i = *impl_;
  *done = false;
  if (i.parser.is_done()) {
    *done = true;
    return std::string();
  }
  i.parser.get().body().data = i.chunk;
  i.parser.get().body().size = sizeof(i.chunk);
  i.tcp().expires_after(std::chrono::milliseconds(absl::ToInt64Milliseconds(i.timeout)));
  beast::error_code ec = RunWithTimeout<beast::tcp_stream>(i.io, [&](auto h) {
    if (i.secure) {
      http::async_read_some(*i.secure, i.buffer, i.parser, h);
    } else {
      http::async_read_some(*i.plain, i.buffer, i.parser, h);
    }
  });
  if (ec == http::error::need_buffer) ec = {};
  if (i.cancelled) return absl::CancelledError("the call was cancelled");
  if (ec) return NetError(ec, "reading the upstream's body");
  size_t n = sizeof(i.chunk) - i.parser.get().body().size;
  if (i.parser.is_done()) *done = true;
  return std::string(i.chunk, n);
}

}  // namespace clawos::proxy
