#include "agent/inference.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "common/http/http1.h"

namespace clawos::agent {
namespace {

constexpr size_t kMaxRequestBody = 8 << 20;
constexpr int kReadTimeoutMs = 30000;
constexpr int kResponseTimeoutMs = 600000;  // long generations stream for minutes

bool ReadSome(int fd, std::string* buf, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) <= 0) return false;
  char tmp[16 * 1024];
  ssize_t n = ::read(fd, tmp, sizeof(tmp));
  if (n <= 0) return false;
  buf->append(tmp, static_cast<size_t>(n));
  return true;
}

void Reply(int fd, int status, const std::string& message) {
  std::string body = "{\"error\":{\"type\":\"clawos_tunnel_error\",\"message\":\"";
  for (char c : message) {
    if (c == '"' || c == '\\') body += '\\';
    body += (static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
  }
  body += "\"}}\n";
  std::string r =
      "HTTP/1.1 " + std::to_string(status) + " " + http::ReasonPhrase(status) +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nConnection: close\r\n\r\n" + body;
  WriteAll(fd, r);
}

bool IsAscii(const std::string& s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

std::string NewRequestId() {
  unsigned char b[16] = {};
  int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    (void)!::read(fd, b, sizeof(b));
    ::close(fd);
  }
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  for (unsigned char c : b) {
    s += kHex[c >> 4];
    s += kHex[c & 15];
  }
  return s;
}

}  // namespace

bool InferenceEndpoint::Start(int port, std::string* error) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::listen(fd, 64) != 0) {
    *error = "cannot listen on 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return false;
  }
  listen_fd_ = fd;
  std::thread([this] {
    for (;;) {
      int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (errno != EINTR) ::usleep(10000);
        continue;
      }
      std::thread([this, c] {
        Serve(c);
        ::close(c);
      }).detach();
    }
  }).detach();
  return true;
}

void InferenceEndpoint::Deliver(const pb::Frame& frame) {
  std::shared_ptr<Pending> p;
  {
    std::lock_guard lock(mu_);
    auto it = streams_.find(frame.stream_id());
    if (it == streams_.end()) return;
    p = it->second;
  }
  std::lock_guard lock(p->mu);
  p->frames.push_back(frame);
  p->cv.notify_all();
}

void InferenceEndpoint::DropAll() {
  std::lock_guard lock(mu_);
  for (auto& [id, p] : streams_) {
    std::lock_guard plock(p->mu);
    p->dropped = true;
    p->cv.notify_all();
  }
}

bool InferenceEndpoint::Next(Pending& p, pb::Frame* out, int timeout_ms) {
  std::unique_lock lock(p.mu);
  if (!p.cv.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                     [&] { return !p.frames.empty() || p.dropped; })) {
    return false;
  }
  if (p.frames.empty()) return false;
  *out = std::move(p.frames.front());
  p.frames.pop_front();
  return true;
}

void InferenceEndpoint::Serve(int fd) {
  // 1. The request, whole (bounded).
  std::string buf, error;
  http::Head head;
  size_t used = 0;
  for (;;) {
    http::Parse r = http::ParseRequestHead(buf, &head, &used, &error);
    if (r == http::Parse::kError) return Reply(fd, 400, error);
    if (r == http::Parse::kDone) break;
    if (!ReadSome(fd, &buf, kReadTimeoutMs)) return;
  }
  // What goes into the frame's strings must be valid UTF-8 (else the frame
  // does not parse on the host): the request line and headers are ASCII.
  if (!IsAscii(head.target)) return Reply(fd, 400, "the request target must be ASCII");
  for (const auto& [k, v] : head.headers) {
    if (!IsAscii(v)) return Reply(fd, 400, "header " + k + " must be ASCII");
  }
  std::string body = buf.substr(used);
  if (http::EqualsIgnoreCase(head.Get("transfer-encoding"), "chunked")) {
    http::ChunkedDecoder d;
    std::string decoded;
    if (!d.Feed(body.data(), body.size(), &decoded, &error)) return Reply(fd, 400, error);
    while (!d.done()) {
      std::string more;
      if (!ReadSome(fd, &more, kReadTimeoutMs)) return;
      if (!d.Feed(more.data(), more.size(), &decoded, &error)) return Reply(fd, 400, error);
      if (decoded.size() > kMaxRequestBody) return Reply(fd, 413, "request body over 8 MiB");
    }
    body = decoded;
  } else {
    size_t want =
        static_cast<size_t>(std::strtoull(head.Get("content-length").c_str(), nullptr, 10));
    if (want > kMaxRequestBody) return Reply(fd, 413, "request body over 8 MiB");
    while (body.size() < want) {
      if (!ReadSome(fd, &body, kReadTimeoutMs)) return;
    }
    body.resize(want);
  }

  // 2. Over the channel.
  auto pending = std::make_shared<Pending>();
  std::unique_lock open_lock(open_mu_);
  uint64_t id = next_stream_;
  next_stream_ += 2;
  {
    std::lock_guard lock(mu_);
    streams_[id] = pending;
  }
  struct Unregister {
    InferenceEndpoint* self;
    uint64_t id;
    ~Unregister() {
      std::lock_guard lock(self->mu_);
      self->streams_.erase(id);
    }
  } unregister{this, id};
  pb::Frame req;
  req.set_stream_id(id);
  auto* r = req.mutable_inference_request();
  std::string request_id = head.Get("x-request-id");
  r->set_request_id(request_id.empty() ? NewRequestId() : request_id);
  r->set_method(head.method);
  r->set_path(head.target);
  for (const auto& [k, v] : head.headers) {
    if (http::IsHopByHop(k) || http::EqualsIgnoreCase(k, "content-length")) continue;
    auto* h = r->add_headers();
    h->set_name(k);
    h->set_value(v);
  }
  bool sent = out_.Send(req);
  open_lock.unlock();
  if (!sent) return Reply(fd, 503, "the host is not connected");
  for (size_t off = 0;;) {
    size_t n = std::min(kMaxChunkBytes, body.size() - off);
    pb::Frame c;
    c.set_stream_id(id);
    c.mutable_inference_request_body()->set_data(body.substr(off, n));
    off += n;
    c.mutable_inference_request_body()->set_eof(off == body.size());
    if (!out_.Send(c)) return Reply(fd, 503, "the host is not connected");
    if (off == body.size()) break;
  }

  // 3. The answer, streamed back.
  auto cancel = [&] {
    pb::Frame c;
    c.set_stream_id(id);
    c.mutable_cancel();
    out_.Send(c);
  };
  pb::Frame f;
  if (!Next(*pending, &f, kResponseTimeoutMs)) return Reply(fd, 504, "no answer from the host");
  if (f.has_error())
    return Reply(fd, f.error().code() == kUnavailable ? 503 : 502, f.error().message());
  if (!f.has_inference_response()) return Reply(fd, 502, "unexpected frame from the host");
  const auto& resp = f.inference_response();
  std::string out = "HTTP/1.1 " + std::to_string(resp.status()) + " " +
                    http::ReasonPhrase(resp.status()) + "\r\n";
  bool has_id = false;
  for (const auto& h : resp.headers()) {
    if (http::IsHopByHop(h.name())) continue;
    has_id |= http::EqualsIgnoreCase(h.name(), "x-request-id");
    out += h.name() + ": " + h.value() + "\r\n";
  }
  if (!has_id) out += "x-request-id: " + resp.request_id() + "\r\n";
  out += "Connection: close\r\n\r\n";
  if (!WriteAll(fd, out)) return cancel();
  for (;;) {
    if (!Next(*pending, &f, kResponseTimeoutMs)) return;
    if (!f.has_inference_response_body()) return;  // an Error mid-body: cut the response
    const auto& chunk = f.inference_response_body();
    if (!chunk.data().empty() && !WriteAll(fd, chunk.data())) return cancel();
    if (chunk.eof()) return;
  }
}

}  // namespace clawos::agent
