#include "common/testing/http_upstream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace clawos::testing {
namespace {

void SendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

}  // namespace

HttpUpstream::HttpUpstream(CannedResponse response) : response_(std::move(response)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  ::listen(listen_fd_, 16);
  socklen_t len = sizeof(a);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      Serve(c);
      ::close(c);
    }
  });
}

HttpUpstream::~HttpUpstream() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

std::vector<RecordedRequest> HttpUpstream::requests() {
  std::lock_guard lock(mu_);
  return requests_;
}

void HttpUpstream::Serve(int fd) {
  std::string buf, err;
  RecordedRequest r;
  size_t used = 0;
  char tmp[16384];
  while (http::ParseRequestHead(buf, &r.head, &used, &err) == http::Parse::kNeedMore) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) return;
    ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
    if (n <= 0) return;
    buf.append(tmp, static_cast<size_t>(n));
  }
  r.body = buf.substr(used);
  if (http::EqualsIgnoreCase(r.head.Get("transfer-encoding"), "chunked")) {
    http::ChunkedDecoder decoder;
    std::string raw = std::move(r.body), error;
    r.body.clear();
    for (;;) {
      if (!decoder.Feed(raw.data(), raw.size(), &r.body, &error)) return;
      if (decoder.done()) break;
      ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
      if (n <= 0) return;
      raw.assign(tmp, static_cast<size_t>(n));
    }
  }
  size_t want = std::strtoull(r.head.Get("content-length").c_str(), nullptr, 10);
  while (r.body.size() < want) {
    ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
    if (n <= 0) break;
    r.body.append(tmp, static_cast<size_t>(n));
  }
  {
    std::lock_guard lock(mu_);
    requests_.push_back(r);
  }
  const CannedResponse& c = response_;
  std::string head =
      "HTTP/1.1 " + std::to_string(c.status) + " " + http::ReasonPhrase(c.status) + "\r\n";
  for (const auto& [k, v] : c.headers) head += k + ": " + v + "\r\n";
  bool chunked = c.pieces.size() > 1;
  std::string whole;
  for (const auto& p : c.pieces) whole += p;
  head += chunked ? "Transfer-Encoding: chunked\r\n"
                  : "Content-Length: " + std::to_string(whole.size()) + "\r\n";
  head += "Connection: close\r\n\r\n";
  SendAll(fd, head);
  if (!chunked) return SendAll(fd, whole);
  for (const auto& p : c.pieces) {
    char size[32];
    std::snprintf(size, sizeof(size), "%zx\r\n", p.size());
    SendAll(fd, size + p + "\r\n");
    ::usleep(20000);  // arrive as separate pieces, like SSE events
  }
  SendAll(fd, "0\r\n\r\n");
}

}  // namespace clawos::testing
