// Client channels to ClawOS daemons from "unix:/path" or "host:port".
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/grpc_status.h"

namespace clawos {

struct ClientOptions {
  // For TCP: TLS when ca_file is set; client cert/key for mTLS.
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
};

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& address,
                                                           const ClientOptions& options = {});

// A client context with a deadline and the current request id attached.
std::unique_ptr<grpc::ClientContext> MakeClientContext(absl::Duration timeout = absl::Seconds(30));

// One unary call on `stub` in such a context; its status as absl::Status.
template <typename Stub, typename Req, typename Resp>
absl::Status CallStub(Stub& stub,
                      grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                      const Req& req, Resp* resp, absl::Duration timeout = absl::Seconds(30)) {
  auto ctx = MakeClientContext(timeout);
  return FromGrpcStatus((stub.*method)(ctx.get(), req, resp));
}

}  // namespace clawos
