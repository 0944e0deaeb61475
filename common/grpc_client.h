// Client channels to ClawOS daemons from "unix:/path" or "host:port".
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

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

}  // namespace clawos
