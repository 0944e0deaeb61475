// The proxy's HTTP/1.1 listener (Boost.Beast): keep-alive, bounded header
// (64 KiB) and body (8 MiB) sizes, read/write timeouts, a connection cap; one
// thread per connection runs the RequestHandler (the ProxyHandler). Malformed requests (including
// CR/LF inside header values) get 400, oversized ones 413/431.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "inference-proxy/handler.h"

namespace clawos::proxy {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 11435;  // 0 picks one
  size_t max_header_bytes = 64 << 10;
  size_t max_body_bytes = 8 << 20;
  absl::Duration io_timeout = absl::Seconds(60);
  int max_connections = 512;
};

class HttpServer {
 public:
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                           RequestHandler& handler);
  ~HttpServer();
  int port() const { return port_; }
  // Stops accepting; requests in progress get 5 s, then every connection is
  // shut down. Returns once no connection thread is left (after that the
  // handler may go away).
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace clawos::proxy
