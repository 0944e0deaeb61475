// One HTTP/1.1 call (Boost.Beast): plain http, or https with certificate and
// host-name verification (the system's CAs, or a CA file). The proxy calls
// its providers with it, the CLI the control plane, tests the daemons. The response is read
// incrementally so streams pass through as they arrive. Every socket operation has a timeout;
// `Cancel()` from another thread (the client went away) aborts the call. Connections are kept alive
// in an ClientPool and reused by later calls.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace clawos::http {

struct Url {
  bool tls = false;
  std::string host;
  std::string port;
  std::string prefix;   // path prefix, without a trailing '/'
  std::string ca_file;  // https: trust this CA (PEM) instead of the system's
};
// "https://api.openai.com", "http://127.0.0.1:8089/base"; INVALID_ARGUMENT otherwise.
absl::StatusOr<Url> ParseUrl(const std::string& url);

struct ClientRequest {
  std::string method;
  std::string path;  // appended to the URL's prefix
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct ClientHead {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // without hop-by-hop ones
  bool chunked_or_streamed = false;
};

// Idle keep-alive connections to one upstream (most recently used first),
// and its TLS context, loaded once. A connection goes back only after a
// complete answer that allows keep-alive; one idle longer than `idle_timeout`
// or closed by the peer is dropped when next taken.
class ClientPool {
 public:
  explicit ClientPool(Url url, size_t max_idle = 64,
                      absl::Duration idle_timeout = absl::Seconds(30));
  ~ClientPool();
  const Url& url() const { return url_; }
  size_t idle() const;
  int64_t connects() const { return connects_; }  // new connections made

  struct Connection;
  // An idle connection that is still open, or null.
  std::unique_ptr<Connection> Take();
  void Put(std::unique_ptr<Connection> c);
  struct Tls;
  Tls* tls() { return tls_.get(); }
  // Why the TLS context could not be made (a bad CA file), or OK.
  const absl::Status& tls_error() const { return tls_error_; }
  void CountConnect() { ++connects_; }

 private:
  Url url_;
  size_t max_idle_;
  absl::Duration idle_timeout_;
  std::unique_ptr<Tls> tls_;
  absl::Status tls_error_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::atomic<int64_t> connects_{0};
};

class ClientCall {
 public:
  // Sends the request on a pooled or new connection and reads the response
  // head. UNAVAILABLE for a refused or failed connection, DEADLINE_EXCEEDED on
  // timeout. A pooled connection the peer closed meanwhile (nothing of the
  // answer read) is replaced by a new one once.
  static absl::StatusOr<std::unique_ptr<ClientCall>> Start(std::shared_ptr<ClientPool> pool,
                                                           const ClientRequest& request,
                                                           absl::Duration timeout);
  // One call on its own connection, not kept.
  static absl::StatusOr<std::unique_ptr<ClientCall>> Start(const Url& url,
                                                           const ClientRequest& request,
                                                           absl::Duration timeout);
  ~ClientCall();
  const ClientHead& head() const { return head_; }
  // The next piece of the body; "" with `done` at its end. UNAVAILABLE when
  // the upstream cut the body short.
  absl::StatusOr<std::string> Read(bool* done);
  // The rest of the body, up to the first error.
  std::string ReadAll();
  // Aborts a call in progress (safe from another thread).
  void Cancel();

 private:
  struct Impl;
  explicit ClientCall(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  ClientHead head_;
};

}  // namespace clawos::http
