#include "common/grpc_client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/request_id.h"

namespace clawos {

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& address,
                                                           const ClientOptions& options) {
  if (address.empty()) return absl::InvalidArgumentError("empty daemon address");
  if (absl::StartsWith(address, "unix:")) {
    if (address.size() < 7 || address[5] != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("address \"", address, "\" needs an absolute path: unix:/path"));
    }
    return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  }
  if (address.find(':') == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("address \"", address, "\" is neither unix:/path nor host:port"));
  }
  if (options.tls_ca_file.empty()) {
    return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  }
  grpc::SslCredentialsOptions ssl;
  auto ca = ReadFile(options.tls_ca_file);
  if (!ca.ok()) return ca.status();
  ssl.pem_root_certs = *ca;
  if (!options.tls_cert_file.empty()) {
    auto cert = ReadFile(options.tls_cert_file);
    if (!cert.ok()) return cert.status();
    auto key = ReadFile(options.tls_key_file);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *cert;
    ssl.pem_private_key = *key;
  }
  return grpc::CreateChannel(address, grpc::SslCredentials(ssl));
}

std::unique_ptr<grpc::ClientContext> MakeClientContext(absl::Duration timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout)));
  AttachRequestId(ctx.get());
  return ctx;
}

}  // namespace clawos
