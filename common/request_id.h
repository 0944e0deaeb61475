// A request/correlation id carried through calls: read from the `x-request-id`
// gRPC metadata (or made fresh), set for the handling thread so every log line
// carries it, echoed to the caller in initial metadata, and forwarded on
// outgoing calls by grpc_client.h.
#pragma once

#include <string>
#include <string_view>

namespace grpc {
class ServerContext;
class ClientContext;
}  // namespace grpc

namespace clawos {

inline constexpr char kRequestIdHeader[] = "x-request-id";

// The current thread's request id, or "" outside a request.
const std::string& CurrentRequestId();

// A fresh id: 16 random bytes, base64url.
std::string NewRequestId();

// Sets the thread's request id for its lifetime, restoring the previous one.
class ScopedRequestId {
 public:
  explicit ScopedRequestId(std::string id);
  // Takes the caller's id from metadata when it is sane (1-128 printable
  // ASCII), else makes one; echoes it back in the server's initial metadata.
  explicit ScopedRequestId(grpc::ServerContext* ctx);
  ~ScopedRequestId();
  ScopedRequestId(const ScopedRequestId&) = delete;
  ScopedRequestId& operator=(const ScopedRequestId&) = delete;

 private:
  std::string previous_;
};

// Adds the current request id (or a fresh one) to an outgoing call.
void AttachRequestId(grpc::ClientContext* ctx);

}  // namespace clawos
