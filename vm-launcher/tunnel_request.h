// The inference tunnel's reading of a guest's request, without sockets: the
// guest's InferenceRequest checked and turned into the head sent to the
// proxy (its credentials and x-clawos-* headers dropped, the VM's token
// attached, the body chunked), and each later frame into a body chunk, the
// body bounded. inference_tunnel.h does the I/O around it; the fuzz build
// links this alone (tunnel_fuzz).
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "clawos/agent/v1/agent.pb.h"

namespace clawos::launcher {

namespace apb = ::clawos::agent::v1;

// Where the proxy is: http://host[:port][/prefix], plain http on the host.
struct ProxyAddress {
  std::string host;
  int port = 80;
  std::string prefix;  // without a trailing '/'
};

// INVALID_ARGUMENT for a URL that is not http://host[:port][/prefix].
absl::StatusOr<ProxyAddress> ParseProxyUrl(const std::string& url);

// Headers the guest may not set: its credentials (the VM's own token is
// attached by the tunnel) and anything of ClawOS's own (x-clawos-*).
bool DroppedGuestHeader(const std::string& name);

// The request id sent on: the guest's when it is safe (http::IsSafeRequestId),
// else a fresh one.
std::string TunnelRequestId(const apb::InferenceRequest& req);

// The guest's request line and headers are acceptable: a method token, a
// printable path from '/' of at most 8 KiB, at most 100 headers whose names
// are tokens. INVALID_ARGUMENT otherwise.
absl::Status CheckGuestRequest(const apb::InferenceRequest& req);

// The head for the proxy (CheckGuestRequest first): the guest's method and
// path under the proxy's prefix; the guest's headers except hop-by-hop ones,
// dropped ones, Host, Content-Length, x-request-id and values with control
// characters (HTAB allowed); then Host, the VM's token, `request_id`,
// chunked transfer and Connection: close.
absl::StatusOr<std::string> ProxyRequestHead(const apb::InferenceRequest& req,
                                             const ProxyAddress& proxy, const std::string& token,
                                             const std::string& request_id);

// The request body as the guest sends it, frame by frame, into chunks.
class TunnelBody {
 public:
  explicit TunnelBody(size_t max_bytes) : max_bytes_(max_bytes) {}
  // The bytes one guest frame adds to the chunked body: its data as a chunk,
  // plus the last chunk when the frame ends the body (then done()); "" for a
  // frame of another kind. CANCELLED for a Cancel, RESOURCE_EXHAUSTED once
  // the body is over max_bytes, FAILED_PRECONDITION after the end.
  absl::StatusOr<std::string> Add(const apb::Frame& frame);
  bool done() const { return done_; }
  size_t total() const { return total_; }

 private:
  const size_t max_bytes_;
  size_t total_ = 0;
  bool done_ = false;
};

}  // namespace clawos::launcher
