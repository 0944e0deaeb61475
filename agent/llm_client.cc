#include "agent/llm_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/http/http1.h"

namespace clawos::agent {

HttpReply PostJson(int port, const std::string& path, const std::string& body, int timeout_s) {
  HttpReply reply;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {0, "", std::string("socket: ") + std::strerror(errno)};
  timeval tv{timeout_s, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    reply.error =
        "cannot connect to 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno);
    close(fd);
    return reply;
  }
  std::string req =
      "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
      "Connection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  for (size_t off = 0; off < req.size();) {
    ssize_t n = write(fd, req.data() + off, req.size() - off);
    if (n <= 0 && errno == EINTR) continue;
    if (n <= 0) {
      reply.error = std::string("sending the request: ") + std::strerror(errno);
      close(fd);
      return reply;
    }
    off += n;
  }
  std::string raw;
  char buf[16384];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      reply.error = std::string("reading the reply: ") + std::strerror(errno);
      close(fd);
      return reply;
    }
    if (n == 0) break;
    raw.append(buf, n);
    if (raw.size() > (16u << 20)) {
      reply.error = "the reply is larger than 16 MiB";
      close(fd);
      return reply;
    }
  }
  close(fd);
  http::Head head;
  size_t consumed = 0;
  std::string error;
  if (http::ParseResponseHead(raw, &head, &consumed, &error) != http::Parse::kDone) {
    reply.error = "malformed reply: " + (error.empty() ? std::string("incomplete head") : error);
    return reply;
  }
  reply.status = head.status;
  std::string rest = raw.substr(consumed);
  if (http::EqualsIgnoreCase(head.Get("transfer-encoding"), "chunked")) {
    http::ChunkedDecoder dec;
    if (!dec.Feed(rest.data(), rest.size(), &reply.body, &error)) {
      reply.error = "malformed chunked body: " + error;
    } else if (!dec.done()) {
      reply.error = "the reply was cut off (chunked body incomplete)";
    }
  } else if (std::string length = head.Get("content-length"); !length.empty()) {
    size_t want = static_cast<size_t>(std::strtoull(length.c_str(), nullptr, 10));
    if (rest.size() < want) {
      reply.error =
          "the reply was cut off (" + std::to_string(rest.size()) + " of " + length + " bytes)";
    }
    rest.resize(std::min(rest.size(), want));
    reply.body = std::move(rest);
  } else {
    reply.body = std::move(rest);
  }
  return reply;
}

}  // namespace clawos::agent
