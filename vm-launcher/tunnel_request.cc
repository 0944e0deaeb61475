#include "vm-launcher/tunnel_request.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/random.h"
#include "common/http/http1.h"

namespace clawos::launcher {
namespace {

// The request line comes from the guest: a method token (http::IsToken) and
// a printable path, so nothing can be smuggled.
bool IsSafePath(const std::string& s) {
  if (s.empty() || s[0] != '/' || s.size() > 8192) return false;
  for (char c : s) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

// RFC 9110 field-value characters: no control character but HTAB (a guest's
// NUL or \x01 would make the head invalid, or read differently by others).
bool IsFieldValue(const std::string& s) {
  for (char c : s) {
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

bool Passed(const apb::HttpHeader& h) {
  return !http::IsHopByHop(h.name()) && !DroppedGuestHeader(h.name()) &&
         !http::EqualsIgnoreCase(h.name(), "host") &&
         !http::EqualsIgnoreCase(h.name(), "content-length") &&
         !http::EqualsIgnoreCase(h.name(), "x-request-id") && IsFieldValue(h.value());
}

}  // namespace

absl::StatusOr<ProxyAddress> ParseProxyUrl(const std::string& url) {
  if (!absl::StartsWith(url, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inference proxy URL \"", url, "\" must be http://host[:port] (the proxy on this host)"));
  }
  ProxyAddress a;
  std::string rest = url.substr(7);
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  a.prefix = slash == std::string::npos ? "" : rest.substr(slash);
  while (!a.prefix.empty() && a.prefix.back() == '/') a.prefix.pop_back();
  size_t colon = hostport.rfind(':');
  a.host = hostport.substr(0, colon);
  if (colon != std::string::npos &&
      (!absl::SimpleAtoi(hostport.substr(colon + 1), &a.port) || a.port <= 0 || a.port > 65535)) {
    return absl::InvalidArgumentError(absl::StrCat("inference proxy URL \"", url, "\": bad port"));
  }
  if (a.host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("inference proxy URL \"", url, "\": no host"));
  }
  return a;
}

bool DroppedGuestHeader(const std::string& name) {
  return http::EqualsIgnoreCase(name, "authorization") ||
         http::EqualsIgnoreCase(name, "x-api-key") || http::EqualsIgnoreCase(name, "cookie") ||
         absl::StartsWithIgnoreCase(name, "x-clawos-");
}

std::string TunnelRequestId(const apb::InferenceRequest& req) {
  if (http::IsSafeRequestId(req.request_id())) return req.request_id();
  return crypto::RandomId().value_or("clawos-tunnel");
}

absl::Status CheckGuestRequest(const apb::InferenceRequest& req) {
  if (!http::IsToken(req.method()) || !IsSafePath(req.path())) {
    return absl::InvalidArgumentError("the request line must be a method token and a path");
  }
  if (req.headers_size() > 100) return absl::InvalidArgumentError("more than 100 headers");
  for (const auto& h : req.headers()) {
    if (!http::IsToken(h.name())) return absl::InvalidArgumentError("a header name is not a token");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ProxyRequestHead(const apb::InferenceRequest& req,
                                             const ProxyAddress& proxy, const std::string& token,
                                             const std::string& request_id) {
  if (absl::Status s = CheckGuestRequest(req); !s.ok()) return s;
  std::string out = absl::StrCat(req.method(), " ", proxy.prefix, req.path(),
                                 " HTTP/1.1\r\nHost: ", proxy.host, ":", proxy.port, "\r\n");
  for (const auto& h : req.headers()) {
    if (Passed(h)) absl::StrAppend(&out, h.name(), ": ", h.value(), "\r\n");
  }
  absl::StrAppend(&out, "Authorization: Bearer ", token, "\r\nx-request-id: ", request_id,
                  "\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
  return out;
}

absl::StatusOr<std::string> TunnelBody::Add(const apb::Frame& f) {
  if (done_) return absl::FailedPreconditionError("the request body has ended");
  if (f.has_cancel()) return absl::CancelledError("the guest cancelled the request");
  if (!f.has_inference_request_body()) return std::string();
  const std::string& data = f.inference_request_body().data();
  total_ += data.size();
  if (total_ > max_bytes_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the request body is over ", max_bytes_, " bytes"));
  }
  std::string out;
  if (!data.empty()) out = absl::StrCat(absl::Hex(data.size()), "\r\n", data, "\r\n");
  if (f.inference_request_body().eof()) {
    done_ = true;
    out += "0\r\n\r\n";
  }
  return out;
}

}  // namespace clawos::launcher
