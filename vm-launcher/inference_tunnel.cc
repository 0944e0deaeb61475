#include "vm-launcher/inference_tunnel.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/sender.h"
#include "common/http/http1.h"
#include "common/log.h"
#include "common/status.h"
#include "common/tcp_socket.h"
#include "common/utf8.h"
#include "vm-launcher/tunnel_request.h"

namespace clawos::launcher {
namespace {

apb::Frame ErrorFrame(const absl::Status& s) {  // the stream sets the id
  return agent::ErrorFrame(0, static_cast<int>(s.code()), std::string(s.message()));
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
  auto proxy = ParseProxyUrl(c.proxy_url);
  if (!proxy.ok()) return proxy.status();
  std::shared_ptr<InferenceTunnel> t(new InferenceTunnel(std::move(c)));
  t->proxy_ = *std::move(proxy);
  return t;
}

void InferenceTunnel::Handle(const std::string& vm, const std::string& model,
                             std::unique_ptr<AgentStream> stream, apb::Frame first) {
  absl::Status s =
      first.has_inference_request()
          ? Forward(vm, model, *stream, first.inference_request())
          : absl::InvalidArgumentError("a guest stream must open with an inference request");
  if (!s.ok()) {
    log::Warn("inference tunnel", {{"vm", vm},
                                   {"request_id", first.inference_request().request_id()},
                                   {"error", std::string(s.message())}});
    stream->Send(ErrorFrame(s)).IgnoreError();
  }
  stream->End();
}

absl::Status InferenceTunnel::Forward(const std::string& vm, const std::string& model,
                                      AgentStream& s, const apb::InferenceRequest& req) {
  const std::string request_id = TunnelRequestId(req);
  RETURN_IF_ERROR(CheckGuestRequest(req));  // before a token is asked for
  auto token = config_.token(vm, model);
  if (!token.ok()) {
    return absl::UnavailableError(
        absl::StrCat("no token for this VM from clawos-identity: ", token.status().message()));
  }
  ASSIGN_OR_RETURN(std::string head, ProxyRequestHead(req, proxy_, *token, request_id));
  absl::Time deadline = absl::Now() + config_.timeout;
  ASSIGN_OR_RETURN(int raw, ConnectTcp(proxy_.host, proxy_.port, absl::Seconds(30)));
  Fd fd{raw};
  if (!SendAll(fd.fd, head)) {
    return absl::UnavailableError(absl::StrCat("sending to the inference proxy at ", proxy_.host,
                                               ":", proxy_.port, " failed"));
  }
  RETURN_IF_ERROR(SendBody(fd.fd, s));
  return Relay(fd.fd, s, request_id, deadline);
}

absl::Status InferenceTunnel::SendBody(int fd, AgentStream& s) {
  const absl::Time deadline = absl::Now() + config_.body_timeout;
  TunnelBody body(config_.max_body_bytes);
  while (!body.done()) {
    auto f = s.Next(deadline);
    if (!f.ok() && f.status().code() == absl::StatusCode::kDeadlineExceeded) {
      return absl::DeadlineExceededError(absl::StrCat("the request body did not arrive within ",
                                                      absl::FormatDuration(config_.body_timeout)));
    }
    if (!f.ok()) return absl::CancelledError("the guest went away");
    ASSIGN_OR_RETURN(std::string bytes, body.Add(*f));
    if (!bytes.empty() && !SendAll(fd, bytes)) {
      return absl::UnavailableError("the inference proxy hung up");
    }
  }
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
      return absl::UnavailableError(absl::StrCat("the inference proxy at ", proxy_.host, ":",
                                                 proxy_.port, " closed without answering"));
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
