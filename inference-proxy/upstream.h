// One call to an upstream provider over HTTP/1.1 (Boost.Beast): plain http
// for local stand-ins, https with certificate and host-name verification for
// real providers. The response is read incrementally so streams pass through
// as they arrive. Every socket operation has a timeout; `Cancel()` from
// another thread (the client went away) aborts the call. Connections are
// kept alive in an UpstreamPool and reused by later calls.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace clawos::proxy {

struct UpstreamUrl {
  bool tls = false;
  std::string host;
  std::string port;
  std::string prefix;  // path prefix, without a trailing '/'
};
// "https://api.openai.com", "http://127.0.0.1:8089/base"; INVALID_ARGUMENT otherwise.
absl::StatusOr<UpstreamUrl> ParseUpstreamUrl(const std::string& url);

struct UpstreamRequest {
  std::string method;
  std::string path;  // appended to the URL's prefix
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct UpstreamHead {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // without hop-by-hop ones
  bool chunked_or_streamed = false;
};

// Idle keep-alive connections to one upstream (most recently used first),
// and its TLS context, loaded once. A connection goes back only after a
// complete answer that allows keep-alive; one idle longer than `idle_timeout`
// or closed by the peer is dropped when next taken.
class UpstreamPool {
 public:
  explicit UpstreamPool(UpstreamUrl url, size_t max_idle = 64,
                        absl::Duration idle_timeout = absl::Seconds(30));
  ~UpstreamPool();
  const UpstreamUrl& url() const { return url_; }
  size_t idle() const;
  int64_t connects() const { return connects_; }  // new connections made

  struct Connection;
  // An idle connection that is still open, or null.
  std::unique_ptr<Connection> Take();
  void Put(std::unique_ptr<Connection> c);
  struct Tls;
  Tls* tls() { return tls_.get(); }
  void CountConnect() { ++connects_; }

 private:
  UpstreamUrl url_;
  size_t max_idle_;
  absl::Duration idle_timeout_;
  std::unique_ptr<Tls> tls_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::atomic<int64_t> connects_{0};
};

class UpstreamCall {
 public:
  // Sends the request on a pooled or new connection and reads the response
  // head. UNAVAILABLE for a refused or failed connection, DEADLINE_EXCEEDED on
  // timeout. A pooled connection the peer closed meanwhile (nothing of the
  // answer read) is replaced by a new one once.
  static absl::StatusOr<std::unique_ptr<UpstreamCall>> Start(std::shared_ptr<UpstreamPool> pool,
                                                             const UpstreamRequest& request,
                                                             absl::Duration timeout);
  // One call on its own connection, not kept.
  static absl::StatusOr<std::unique_ptr<UpstreamCall>> Start(const UpstreamUrl& url,
                                                             const UpstreamRequest& request,
                                                             absl::Duration timeout);
  ~UpstreamCall();
  const UpstreamHead& head() const { return head_; }
  // The next piece of the body; "" with `done` at its end. UNAVAILABLE when
  // the upstream cut the body short.
  absl::StatusOr<std::string> Read(bool* done);
  // Aborts a call in progress (safe from another thread).
  void Cancel();

 private:
  struct Impl;
  explicit UpstreamCall(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  UpstreamHead head_;
};

}  // namespace clawos::proxy
