// Test helper: a tiny HTTP/1.1 server on 127.0.0.1 standing in for an
// upstream (the inference proxy, a provider). It records every request and
// answers each with the configured response, optionally chunked in pieces.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/http/http1.h"

namespace clawos::testing {

struct RecordedRequest {
  http::Head head;
  std::string body;
};

struct CannedResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  // Sent chunked (Transfer-Encoding: chunked), one chunk per piece, when
  // there is more than one piece; else with Content-Length.
  std::vector<std::string> pieces;
};

class HttpUpstream {
 public:
  explicit HttpUpstream(CannedResponse response);
  ~HttpUpstream();
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<RecordedRequest> requests();

 private:
  void Serve(int fd);
  CannedResponse response_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<RecordedRequest> requests_;
};

}  // namespace clawos::testing
