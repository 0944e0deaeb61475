// libFuzzer target for the inference tunnel's reading of a guest's request
// (vm-launcher/tunnel_request.h): the InferenceRequest a guest opens a stream
// with, turned into the head the launcher sends to the proxy, and the frames
// after it into the chunked body, as InferenceTunnel::Forward runs them.
//
// Input byte 0: bit 0 picks how the rest is read, bits 1-2 the proxy's path
// prefix ("", "/base", "/a/b/", "/p").
//   0: a request in text: METHOD SP PATH [SP REQUEST_ID] "\n", then
//      NAME ":" VALUE lines (any bytes but ':' in names and '\n'), an empty
//      line, and the body in pieces cut at \x01 (a piece "\x02" is a Cancel,
//      "\x03" a frame of another kind); the last piece ends the body, unless
//      the input ends in \x04;
//   1: the agent channel's bytes as a guest writes them (agent/frame.h's
//      FrameReader): the first frame opens the stream, the rest follow it.
// Properties checked (abort):
// - CheckGuestRequest accepts exactly what an independent reading of its
//   rules accepts;
// - an accepted request's head is one RFC 9112 request head and nothing
//   more: the guest's method, the prefix and path, token header names,
//   values without control characters; Host, Authorization (the VM's token),
//   x-request-id (safe; the guest's when it was safe), Transfer-Encoding:
//   chunked and Connection: close exactly once each; no Content-Length, no
//   x-clawos-*, x-api-key, cookie or other hop-by-hop header; every other
//   guest header there, in order, with its value;
// - the body: each frame adds at most its data plus the chunk framing; the
//   chunks decode to exactly the guest's data; it ends when and only when the
//   guest's last frame says so; over the bound it is RESOURCE_EXHAUSTED, a
//   Cancel is CANCELLED.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <google/protobuf/stubs/logging.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "agent/frame.h"
#include "common/http/http1.h"
#include "test/fuzz/require.h"
#include "vm-launcher/tunnel_request.h"

namespace {

using namespace clawos;
using namespace clawos::launcher;

constexpr char kToken[] = "eyJhbGciOiJFZERTQSJ9.e30.c2ln";
constexpr size_t kMaxBody = 4096;

using clawos::fuzz::Require;

bool Ctl(char c) { return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f; }

// The rules CheckGuestRequest promises, read independently.
bool Acceptable(const apb::InferenceRequest& r) {
  const std::string& p = r.path();
  bool path = !p.empty() && p[0] == '/' && p.size() <= 8192;
  for (char c : p) path = path && static_cast<unsigned char>(c) > 0x20 && c != 0x7f;
  bool names = r.headers_size() <= 100;
  for (const auto& h : r.headers()) names = names && http::IsToken(h.name());
  return http::IsToken(r.method()) && path && names;
}

bool ExpectedOnward(const apb::HttpHeader& h) {
  std::string n = absl::AsciiStrToLower(h.name());
  return !http::IsHopByHop(n) && n != "authorization" && n != "x-api-key" && n != "cookie" &&
         !absl::StartsWith(n, "x-clawos-") && n != "host" && n != "content-length" &&
         n != "x-request-id" && std::none_of(h.value().begin(), h.value().end(), Ctl);
}

struct Line {
  std::string name, value;
};

// A strict RFC 9112 reading of a request head that must be all of `head`.
std::vector<Line> ReadHead(const std::string& head, std::string* method, std::string* target) {
  Require(absl::EndsWith(head, "\r\n\r\n"));
  std::vector<std::string> lines = absl::StrSplit(head.substr(0, head.size() - 4), "\r\n");
  std::vector<std::string> first = absl::StrSplit(lines[0], ' ');
  Require(first.size() == 3 && first[2] == "HTTP/1.1");
  *method = first[0];
  *target = first[1];
  std::vector<Line> out;
  for (size_t i = 1; i < lines.size(); ++i) {
    size_t colon = lines[i].find(':');
    Require(colon != std::string::npos);
    Line l{lines[i].substr(0, colon), lines[i].substr(colon + 1)};
    Require(http::IsToken(l.name));
    for (char c : l.value) Require(!Ctl(c));
    l.value = std::string(absl::StripAsciiWhitespace(l.value));
    out.push_back(std::move(l));
  }
  return out;
}

int Count(const std::vector<Line>& h, const std::string& name) {
  int n = 0;
  for (const auto& l : h) n += http::EqualsIgnoreCase(l.name, name) ? 1 : 0;
  return n;
}

std::string Value(const std::vector<Line>& h, const std::string& name) {
  for (const auto& l : h) {
    if (http::EqualsIgnoreCase(l.name, name)) return l.value;
  }
  return "";
}

void CheckHead(const apb::InferenceRequest& req, const ProxyAddress& proxy) {
  std::string rid = TunnelRequestId(req);
  Require(http::IsSafeRequestId(rid));
  if (http::IsSafeRequestId(req.request_id())) Require(rid == req.request_id());
  auto head = ProxyRequestHead(req, proxy, kToken, rid);
  Require(head.ok());
  std::string method, target;
  std::vector<Line> h = ReadHead(*head, &method, &target);
  Require(method == req.method() && target == proxy.prefix + req.path());
  for (const char* ours :
       {"host", "authorization", "x-request-id", "transfer-encoding", "connection"}) {
    Require(Count(h, ours) == 1);
  }
  Require(Value(h, "host") == proxy.host + ":" + std::to_string(proxy.port));
  Require(Value(h, "authorization") == std::string("Bearer ") + kToken);
  Require(Value(h, "x-request-id") == rid);
  Require(Value(h, "transfer-encoding") == "chunked" && Value(h, "connection") == "close");
  Require(Count(h, "content-length") == 0 && Count(h, "x-api-key") == 0 && Count(h, "cookie") == 0);
  // The guest's own, in order, then ours (the last four lines).
  size_t i = 1;  // h[0] is Host
  for (const auto& g : req.headers()) {
    if (!ExpectedOnward(g)) continue;
    Require(i + 4 < h.size() && h[i].name == g.name() &&
            h[i].value == absl::StripAsciiWhitespace(g.value()));
    ++i;
  }
  Require(i + 4 == h.size());
  for (size_t j = 1; j < i; ++j) {
    Require(!absl::StartsWithIgnoreCase(h[j].name, "x-clawos-") && !http::IsHopByHop(h[j].name));
  }
}

void CheckBody(const std::vector<apb::Frame>& frames) {
  TunnelBody body(kMaxBody);
  std::string wire, sent;
  size_t total = 0;
  bool ended = false;
  for (const apb::Frame& f : frames) {
    auto bytes = body.Add(f);
    if (f.has_cancel()) {
      Require(bytes.status().code() == absl::StatusCode::kCancelled);
      return;
    }
    const std::string& data = f.inference_request_body().data();
    if (f.has_inference_request_body()) total += data.size();
    if (total > kMaxBody) {
      Require(bytes.status().code() == absl::StatusCode::kResourceExhausted);
      return;
    }
    Require(bytes.ok() && bytes->size() <= data.size() + 32);
    wire += *bytes;
    if (f.has_inference_request_body()) sent += data;
    ended = f.has_inference_request_body() && f.inference_request_body().eof();
    Require(body.done() == ended && body.total() == total);
    if (ended) break;
  }
  http::ChunkedDecoder decoder;
  std::string decoded, error;
  Require(decoder.Feed(wire.data(), wire.size(), &decoded, &error));
  Require(decoded == sent && decoder.done() == ended);
  if (ended) Require(absl::EndsWith(wire, "0\r\n\r\n"));
}

void Check(const apb::InferenceRequest& req, const std::vector<apb::Frame>& rest, int prefix) {
  static const char* const kPrefixes[] = {"", "/base", "/a/b/", "/p"};
  auto proxy = ParseProxyUrl(std::string("http://127.0.0.1:11435") + kPrefixes[prefix]);
  Require(proxy.ok());
  absl::Status s = CheckGuestRequest(req);
  Require(s.ok() == Acceptable(req));
  if (!s.ok()) {
    Require(s.code() == absl::StatusCode::kInvalidArgument);
    Require(ProxyRequestHead(req, *proxy, kToken, "r").status() == s);
    return;
  }
  CheckHead(req, *proxy);
  CheckBody(rest);
}

apb::Frame BodyFrame(const std::string& piece, bool eof) {
  apb::Frame f;
  if (piece == "\x02") {
    f.mutable_cancel();
  } else if (piece == "\x03") {
    f.mutable_ping()->set_nonce(7);
  } else {
    f.mutable_inference_request_body()->set_data(piece);
    f.mutable_inference_request_body()->set_eof(eof);
  }
  return f;
}

void FromText(std::string_view in, int prefix) {
  apb::InferenceRequest req;
  size_t nl = in.find('\n');
  std::vector<std::string> line = absl::StrSplit(std::string(in.substr(0, nl)), ' ');
  in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
  req.set_method(line[0]);
  if (line.size() > 1) req.set_path(line[1]);
  if (line.size() > 2) req.set_request_id(line[2]);
  while (!in.empty()) {
    nl = in.find('\n');
    std::string_view l = in.substr(0, nl);
    in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
    if (l.empty()) break;
    size_t colon = l.find(':');
    auto* h = req.add_headers();
    h->set_name(std::string(l.substr(0, colon)));
    if (colon != std::string_view::npos) h->set_value(std::string(l.substr(colon + 1)));
  }
  std::string body(in);
  bool open = absl::EndsWith(body, "\x04");
  if (open) body.pop_back();
  std::vector<std::string> pieces = absl::StrSplit(body, '\x01');
  std::vector<apb::Frame> frames;
  for (size_t i = 0; i < pieces.size(); ++i) {
    frames.push_back(BodyFrame(pieces[i], !open && i + 1 == pieces.size()));
  }
  Check(req, frames, prefix);
}

void FromChannel(std::string_view in, int prefix) {
  agent::FrameReader reader;
  reader.Feed(in.data(), in.size());
  std::vector<apb::Frame> frames;
  apb::Frame f;
  std::string error;
  for (;;) {
    auto r = reader.Next(&f, &error);
    if (r == agent::FrameReader::Result::kFrame) frames.push_back(f);
    if (r == agent::FrameReader::Result::kNeedMore || r == agent::FrameReader::Result::kError) {
      break;
    }
  }
  // A stream must open with an inference request (InferenceTunnel::Handle).
  if (frames.empty() || !frames[0].has_inference_request()) return;
  Check(frames[0].inference_request(), {frames.begin() + 1, frames.end()}, prefix);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);  // no log line per string that is not UTF-8
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  int prefix = (data[0] >> 1) & 3;
  if (data[0] & 1) {
    FromChannel(rest, prefix);
  } else {
    FromText(rest, prefix);
  }
  return 0;
}
