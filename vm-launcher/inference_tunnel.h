// The host end of the in-guest inference endpoint. A guest-opened stream
// carries one HTTP request; the tunnel drops any credentials the guest sent,
// attaches the VM's own token (Authorization: Bearer <JWT for agents/<vm>>),
// calls the inference proxy (CLAWOS_INFERENCE_PROXY_URL, plain http on the
// host) and streams the response back, chunk by chunk. The request body is
// passed on as it arrives (chunked), never assembled here: a stream holds at
// most a frame of it. The body must be complete within body_timeout and
// under max_body_bytes.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "vm-launcher/agent_client.h"
#include "vm-launcher/tunnel_request.h"

namespace clawos::launcher {

struct TunnelConfig {
  std::string proxy_url;  // "http://127.0.0.1:11435" (optionally with a path prefix)
  // The VM's bearer token, bound to its model ("" for any); called per
  // request (cache inside).
  std::function<absl::StatusOr<std::string>(const std::string& vm, const std::string& model)> token;
  absl::Duration timeout = absl::Minutes(10);  // the whole call
  absl::Duration body_timeout = absl::Seconds(60);
  size_t max_body_bytes = 8 << 20;
};

class InferenceTunnel {
 public:
  // INVALID_ARGUMENT for a URL that is not http://host[:port][/prefix].
  static absl::StatusOr<std::shared_ptr<InferenceTunnel>> Create(TunnelConfig config);
  // Serves one guest stream whose first frame is `first`; answers every
  // failure on the stream (UNAVAILABLE when the proxy or the token cannot be had).
  void Handle(const std::string& vm, const std::string& model, std::unique_ptr<AgentStream> stream,
              apb::Frame first);

 private:
  explicit InferenceTunnel(TunnelConfig c) : config_(std::move(c)) {}
  absl::Status Forward(const std::string& vm, const std::string& model, AgentStream& s,
                       const apb::InferenceRequest& req);
  // The guest's body frames, on to the proxy as chunks until eof.
  absl::Status SendBody(int fd, AgentStream& s);
  // The proxy's answer, back to the guest as frames.
  absl::Status Relay(int fd, AgentStream& s, const std::string& request_id, absl::Time deadline);
  TunnelConfig config_;
  ProxyAddress proxy_;
};

}  // namespace clawos::launcher
