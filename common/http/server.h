// The daemons' HTTP/1.1 listener (Boost.Beast): keep-alive, bounded header
// (64 KiB) and body (8 MiB) sizes, read/write timeouts, a connection cap; one
// thread per connection runs the RequestHandler (the proxy's data path, the
// control plane's API). Malformed requests (including CR/LF inside header
// values) get 400, oversized ones 413/431. Answers are whole or streamed
// (chunked: SSE, exec output). A request's head and body must arrive within
// request_timeout in all (a client trickling bytes is cut off with 408). An
// exception out of the handler never ends the process: it is logged, the
// client gets 500 when nothing was sent yet, and the connection is closed.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include <utility>
#include <vector>
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace clawos::http {

struct Request {
  std::string method;
  std::string target;  // path and query
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string Header(const std::string& name) const;
};

// Where the answer goes (the connection). Writes return false once the client is gone.
class ResponseSink {
 public:
  virtual ~ResponseSink() = default;
  virtual bool Head(int status, const std::vector<std::pair<std::string, std::string>>& headers,
                    bool streamed) = 0;
  virtual bool Body(const std::string& data) = 0;
  virtual bool End() = 0;
};

// What the HTTP listener calls for each request.
class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  virtual void Handle(const Request& request, ResponseSink& sink) = 0;
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0 picks one
  size_t max_header_bytes = 64 << 10;
  size_t max_body_bytes = 8 << 20;
  absl::Duration io_timeout = absl::Seconds(60);
  // Head plus body of one request, from the first byte of it.
  absl::Duration request_timeout = absl::Seconds(30);
  // How long a kept-alive connection may wait for its next request.
  absl::Duration idle_timeout = absl::Seconds(60);
  int max_connections = 512;
};

class Server {
 public:
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options,
                                                       RequestHandler& handler);
  ~Server();
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

}  // namespace clawos::http
