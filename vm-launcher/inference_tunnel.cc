#include "vm-launcher/inference_tunnel.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/sender.h"
#include "common/crypto/random.h"
#include "common/http/http1.h"
#include "common/log.h"
#include "common/status.h"
#include "common/tcp_socket.h"
#include "common/utf8.h"

namespace clawos::launcher {
namespace {

apb::Frame ErrorFrame(const absl::Status& s) {  // the stream sets the id
  return agent::ErrorFrame(0, static_cast<int>(s.code()), std::string(s.message()));
}

// Headers the guest may not set: its credentials (the VM's own token is
// attached here) and anything of ClawOS's own (x-clawos-*: the host's say).
bool Dropped(const std::string& name) {
  return http::EqualsIgnoreCase(name, "authorization") ||
         http::EqualsIgnoreCase(name, "x-api-key") || http::EqualsIgnoreCase(name, "cookie") ||
         absl::StartsWithIgnoreCase(name, "x-clawos-");
}

bool SendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

struct Fd {
  int fd;
  ~Fd() { ::close(fd); }
};

// The request line comes from the guest: a method token (http::IsToken) and
// a printable path, so nothing can be smuggled.
bool IsSafePath(const std::string& s) {
  if (s.empty() || s[0] != '/' || s.size() > 8192) return false;
  for (char c : s) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

// Data from the proxy, in one-second slices, watching the guest's side: a
// Cancel (its client went away) or a lost channel ends the call early.
absl::StatusOr<size_t> RecvWatching(int fd, char* buf, size_t n, AgentStream& s,
                                    absl::Time deadline) {
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, 1000);
    if (ready > 0) {
      ssize_t got = ::recv(fd, buf, n, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return absl::UnavailableError("reading from the inference proxy failed");
      return static_cast<size_t>(got);
    }
    auto f = s.Next(absl::Now());
    if (f.ok() && f->has_cancel()) return absl::CancelledError("the guest cancelled the request");
    if (!f.ok() && f.status().code() != absl::StatusCode::kDeadlineExceeded) {
      return absl::CancelledError("the guest's channel went away");
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError("the inference proxy did not answer in time");
    }
  }
}

}  // namespace

absl::StatusOr<std::shared_ptr<InferenceTunnel>> InferenceTunnel::Create(TunnelConfig c) {
  std::string url = c.proxy_url;
  if (!absl::StartsWith(url, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inference proxy URL \"", url, "\" must be http://host[:port] (the proxy on this host)"));
  }
  std::shared_ptr<InferenceTunnel> t(new InferenceTunnel(std::move(c)));
  std::string rest = url.substr(7);
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  t->prefix_ = slash == std::string::npos ? "" : rest.substr(slash);
  while (!t->prefix_.empty() && t->prefix_.back() == '/') t->prefix_.pop_back();
  size_t colon = hostport.rfind(':');
  t->host_ = hostport.substr(0, colon);
  if (colon != std::string::npos && (!absl::SimpleAtoi(hostport.substr(colon + 1), &t->port_) ||
                                     t->port_ <= 0 || t->port_ > 65535)) {
    return absl::InvalidArgumentError(absl::StrCat("inference proxy URL \"", url, "\": bad port"));
  }
  if (t->host_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("inference proxy URL \"", url, "\": no host"));
  }
  return t;
}

void InferenceTunnel::Handle(const std::string& vm, std::unique_ptr<AgentStream> stream,
                             apb::Frame first) {
  absl::Status s =
      first.has_inference_request()
          ? Forward(vm, *stream, first.inference_request())
          : absl::InvalidArgumentError("a guest stream must open with an inference request");
  if (!s.ok()) {
    log::Warn("inference tunnel", {{"vm", vm},
                                   {"request_id", first.inference_request().request_id()},
                                   {"error", std::string(s.message())}});
    stream->Send(ErrorFrame(s)).IgnoreError();
  }
  stream->End();
}

absl::Status InferenceTunnel::Forward(const std::string& vm, AgentStream& s,
                                      const apb::InferenceRequest& req) {
  if (!http::IsToken(req.method()) || !IsSafePath(req.path())) {
    return absl::InvalidArgumentError("the request line must be a method token and a path");
  }
  if (req.headers_size() > 100) return absl::InvalidArgumentError("more than 100 headers");
  for (const auto& h : req.headers()) {
    if (!http::IsToken(h.name())) return absl::InvalidArgumentError("a header name is not a token");
  }
  std::string request_id = req.request_id();
  if (!http::IsSafeRequestId(request_id)) request_id = crypto::RandomId().value_or("clawos-tunnel");
  auto token = config_.token(vm);
  if (!token.ok()) {
    return absl::UnavailableError(
        absl::StrCat("no token for this VM from clawos-identity: ", token.status().message()));
  }
  absl::Time deadline = absl::Now() + config_.timeout;
  ASSIGN_OR_RETURN(int raw, ConnectTcp(host_, port_, absl::Seconds(30)));
  Fd fd{raw};
  std::string out = absl::StrCat(req.method(), " ", prefix_, req.path(),
                                 " HTTP/1.1\r\nHost: ", host_, ":", port_, "\r\n");
  for (const auto& h : req.headers()) {
    if (http::IsHopByHop(h.name()) || Dropped(h.name()) ||
        http::EqualsIgnoreCase(h.name(), "host") ||
        http::EqualsIgnoreCase(h.name(), "content-length") ||
        http::EqualsIgnoreCase(h.name(), "x-request-id") ||
        h.value().find_first_of("\r\n") != std::string::npos) {
      continue;
    }
    absl::StrAppend(&out, h.name(), ": ", h.value(), "\r\n");
  }
  absl::StrAppend(&out, "Authorization: Bearer ", *token, "\r\nx-request-id: ", request_id,
                  "\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
  if (!SendAll(fd.fd, out)) {
    return absl::UnavailableError(
        absl::StrCat("sending to the inference proxy at ", host_, ":", port_, " failed"));
  }
  RETURN_IF_ERROR(SendBody(fd.fd, s));
  return Relay(fd.fd, s, request_id, deadline);
}

absl::Status InferenceTunnel::SendBody(int fd, AgentStream& s) {
  const absl::Time deadline = absl::Now() + config_.body_timeout;
  size_t total = 0;
  for (;;) {
    auto f = s.Next(deadline);
    if (!f.ok() && f.status().code() == absl::StatusCode::kDeadlineExceeded) {
      return absl::DeadlineExceededError(absl::StrCat("the request body did not arrive within ",
                                                      absl::FormatDuration(config_.body_timeout)));
    }
    if (!f.ok()) return absl::CancelledError("the guest went away");
    if (f->has_cancel()) return absl::CancelledError("the guest cancelled the request");
    if (!f->has_inference_request_body()) continue;
    const std::string& data = f->inference_request_body().data();
    total += data.size();
    if (total > config_.max_body_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the request body is over ", config_.max_body_bytes, " bytes"));
    }
    if (!data.empty()) {
      std::string chunk = absl::StrCat(absl::Hex(data.size()), "\r\n", data, "\r\n");
      if (!SendAll(fd, chunk)) return absl::UnavailableError("the inference proxy hung up");
    }
    if (f->inference_request_body().eof()) break;
  }
  if (!SendAll(fd, "0\r\n\r\n")) return absl::UnavailableError("the inference proxy hung up");
  return absl::OkStatus();
}

absl::Status InferenceTunnel::Relay(int fd, AgentStream& s, const std::string& request_id,
                                    absl::Time deadline) {
  // The response head.
  std::string buf, error;
  http::Head head;
  size_t used = 0;
  char tmp[64 * 1024];
  for (;;) {
    http::Parse p = http::ParseResponseHead(buf, &head, &used, &error);
    if (p == http::Parse::kError) {
      return absl::UnavailableError(absl::StrCat("the inference proxy answered badly: ", error));
    }
    if (p == http::Parse::kDone) break;
    ASSIGN_OR_RETURN(size_t n, RecvWatching(fd, tmp, sizeof(tmp), s, deadline));
    if (n == 0) {
      return absl::UnavailableError(
          absl::StrCat("the inference proxy at ", host_, ":", port_, " closed without answering"));
    }
    buf.append(tmp, n);
  }
  apb::Frame rf;
  auto* r = rf.mutable_inference_response();
  r->set_status(head.status);
  std::string rid = head.Get("x-request-id");
  r->set_request_id(rid.empty() ? request_id : rid);
  for (const auto& [k, v] : head.headers) {
    if (http::IsHopByHop(k)) continue;
    auto* h = r->add_headers();
    h->set_name(k);
    h->set_value(ToValidUtf8(v));
  }
  RETURN_IF_ERROR(s.Send(rf));
  // The body, as it arrives.
  bool chunked = http::EqualsIgnoreCase(head.Get("transfer-encoding"), "chunked");
  int64_t left = -1;
  if (!chunked && head.Has("content-length")) {
    if (!absl::SimpleAtoi(head.Get("content-length"), &left) || left < 0) left = -1;
  }
  http::ChunkedDecoder decoder;
  std::string pending = buf.substr(used);
  auto emit = [&](const std::string& data, bool eof) {
    apb::Frame c;
    c.mutable_inference_response_body()->set_data(data);
    c.mutable_inference_response_body()->set_eof(eof);
    return s.Send(c);
  };
  for (;;) {
    std::string data;
    if (chunked) {
      if (!decoder.Feed(pending.data(), pending.size(), &data, &error)) {
        return absl::UnavailableError(absl::StrCat("bad chunked body from the proxy: ", error));
      }
    } else {
      data = left >= 0 ? pending.substr(0, static_cast<size_t>(left)) : pending;
      if (left >= 0) left -= static_cast<int64_t>(data.size());
    }
    pending.clear();
    bool done = chunked ? decoder.done() : left == 0;
    for (size_t off = 0; off < data.size(); off += agent::kMaxChunkBytes) {
      RETURN_IF_ERROR(emit(data.substr(off, agent::kMaxChunkBytes), false));
    }
    if (done) return emit("", true);
    ASSIGN_OR_RETURN(size_t n, RecvWatching(fd, tmp, sizeof(tmp), s, deadline));
    if (n == 0) {
      if (!chunked && left < 0) return emit("", true);  // read-until-close body
      return absl::UnavailableError("the inference proxy closed mid-response");
    }
    pending.assign(tmp, n);
  }
}

}  // namespace clawos::launcher
