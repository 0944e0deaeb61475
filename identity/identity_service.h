// gRPC glue for clawos.identity.v1.IdentityService: validate → IdentityManager → status.
#pragma once

#include "clawos/identity/v1/identity.grpc.pb.h"
#include "identity/identity_manager.h"

namespace clawos::identity {

namespace pb = ::clawos::identity::v1;

class IdentityService final : public pb::IdentityService::Service {
 public:
  explicit IdentityService(IdentityManager& manager) : m_(manager) {}

  grpc::Status IssueToken(grpc::ServerContext*, const pb::IssueTokenRequest*,
                          pb::IssueTokenResponse*) override;
  grpc::Status VerifyToken(grpc::ServerContext*, const pb::VerifyTokenRequest*,
                           pb::VerifyTokenResponse*) override;
  grpc::Status CreateRevocation(grpc::ServerContext*, const pb::CreateRevocationRequest*,
                                pb::Revocation*) override;
  grpc::Status ListRevocations(grpc::ServerContext*, const pb::ListRevocationsRequest*,
                               pb::ListRevocationsResponse*) override;
  grpc::Status GetJwks(grpc::ServerContext*, const pb::GetJwksRequest*, pb::Jwks*) override;
  grpc::Status ListSigningKeys(grpc::ServerContext*, const pb::ListSigningKeysRequest*,
                               pb::ListSigningKeysResponse*) override;
  grpc::Status RotateSigningKey(grpc::ServerContext*, const pb::RotateSigningKeyRequest*,
                                pb::SigningKey*) override;
  grpc::Status ExchangeOidcToken(grpc::ServerContext*, const pb::ExchangeOidcTokenRequest*,
                                 pb::IssueTokenResponse*) override;
  grpc::Status CreateSecret(grpc::ServerContext*, const pb::CreateSecretRequest*,
                            pb::Secret*) override;
  grpc::Status UpdateSecret(grpc::ServerContext*, const pb::UpdateSecretRequest*,
                            pb::Secret*) override;
  grpc::Status GetSecret(grpc::ServerContext*, const pb::GetSecretRequest*, pb::Secret*) override;
  grpc::Status AccessSecret(grpc::ServerContext*, const pb::AccessSecretRequest*,
                            pb::AccessSecretResponse*) override;
  grpc::Status ListSecrets(grpc::ServerContext*, const pb::ListSecretsRequest*,
                           pb::ListSecretsResponse*) override;
  grpc::Status DeleteSecret(grpc::ServerContext*, const pb::DeleteSecretRequest*,
                            google::protobuf::Empty*) override;
  grpc::Status RotateMasterKey(grpc::ServerContext*, const pb::RotateMasterKeyRequest*,
                               pb::RotateMasterKeyResponse*) override;

 private:
  IdentityManager& m_;
};

}  // namespace clawos::identity
