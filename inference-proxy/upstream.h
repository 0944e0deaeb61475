// One call to an upstream provider over HTTP/1.1 (Boost.Beast): plain http
// for local stand-ins, https with certificate and host-name verification for
// real providers. The response is read incrementally so streams pass through
// as they arrive. Every socket operation has a timeout; `Cancel()` from
// another thread (the client went away) aborts the call.
#pragma once

#include <atomic>
#include <map>
#include <memory>
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

class UpstreamCall {
 public:
  // Connects, sends the request and reads the response head. UNAVAILABLE for a
  // refused or failed connection, DEADLINE_EXCEEDED on timeout.
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
