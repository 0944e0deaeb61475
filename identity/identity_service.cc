#include "identity/identity_service.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/encoding.h"
#include "common/grpc_server.h"
#include "common/grpc_status.h"
#include "common/grpc_util.h"
#include "common/log.h"
#include "common/request_id.h"

namespace clawos::identity {
namespace {

google::protobuf::Timestamp Ts(absl::Time t) {
  return ToProtoTime(absl::FromUnixSeconds(absl::ToUnixSeconds(t)));
}

// "secrets/<id>" → id.
absl::StatusOr<std::string> SecretId(const std::string& name) {
  if (!absl::StartsWith(name, "secrets/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("name \"", name.substr(0, 64), "\" is not of the form secrets/<id>"));
  }
  std::string id = name.substr(8);
  if (auto s = ValidateSecretId(id); !s.ok()) return s;
  return id;
}

void ToProto(const SecretInfo& s, pb::Secret* out) {
  out->set_name("secrets/" + s.id);
  *out->mutable_create_time() = Ts(s.create_time);
  *out->mutable_update_time() = Ts(s.update_time);
  out->set_size_bytes(s.size_bytes);
}

void ToProto(const IssuedToken& t, pb::IssueTokenResponse* out) {
  out->set_token(t.token);
  out->set_jti(t.claims.jti);
  out->set_kid(t.claims.kid);
  *out->mutable_expire_time() = Ts(t.claims.expires_at);
}

void ToProto(const RevocationRecord& r, pb::Revocation* out) {
  if (!r.jti.empty()) {
    out->set_name("revocations/jti:" + r.jti);
    out->set_jti(r.jti);
  } else {
    out->set_name("revocations/subject:" + r.subject);
    out->set_subject(r.subject);
  }
  *out->mutable_create_time() = Ts(r.create_time);
  out->set_reason(r.reason);
}

void ToProto(const SigningKeyInfo& k, pb::SigningKey* out) {
  out->set_name("signingKeys/" + k.kid);
  out->set_kid(k.kid);
  out->set_state(k.retire_time ? pb::SigningKey::RETIRED : pb::SigningKey::CURRENT);
  *out->mutable_create_time() = Ts(k.create_time);
  if (k.retire_time) {
    *out->mutable_retire_time() = Ts(*k.retire_time);
    *out->mutable_purge_time() = Ts(k.purge_time());
  }
  out->set_public_key(crypto::Base64UrlEncode(k.public_key));
}

}  // namespace

grpc::Status IdentityService::IssueToken(grpc::ServerContext* ctx, const pb::IssueTokenRequest* req,
                                         pb::IssueTokenResponse* resp) {
  IssueRequest r;
  r.subject = req->subject();
  r.audience = req->audience();
  if (req->has_ttl()) r.ttl = FromProtoDuration(req->ttl());
  if (req->has_ttl() && r.ttl <= absl::ZeroDuration()) {
    return ToGrpcStatus(absl::InvalidArgumentError("ttl must be positive"));
  }
  if (!req->role().empty()) r.role = req->role();
  r.model = req->model();
  auto t = m_.Issue(r);
  if (!t.ok()) return ToGrpcStatus(t.status());
  ToProto(*t, resp);
  return grpc::Status::OK;
}

grpc::Status IdentityService::VerifyToken(grpc::ServerContext* ctx,
                                          const pb::VerifyTokenRequest* req,
                                          pb::VerifyTokenResponse* resp) {
  auto c = m_.Verify(req->token(), req->audience());
  if (!c.ok()) {
    log::Info("token verification failed", {{"reason", std::string(c.status().message())}});
    return ToGrpcStatus(c.status());
  }
  auto* out = resp->mutable_claims();
  out->set_issuer(c->issuer);
  out->set_subject(c->subject);
  out->set_audience(c->audience);
  *out->mutable_issue_time() = Ts(c->issued_at);
  *out->mutable_not_before_time() = Ts(c->not_before);
  *out->mutable_expire_time() = Ts(c->expires_at);
  out->set_jti(c->jti);
  out->set_role(c->role);
  out->set_identity_provider(c->identity_provider);
  out->set_model(c->model);
  resp->set_kid(c->kid);
  return grpc::Status::OK;
}

grpc::Status IdentityService::CreateRevocation(grpc::ServerContext* ctx,
                                               const pb::CreateRevocationRequest* req,
                                               pb::Revocation* resp) {
  absl::StatusOr<RevocationRecord> r;
  switch (req->target_case()) {
    case pb::CreateRevocationRequest::kJti:
      r = m_.revocations().RevokeToken(req->jti(), req->reason());
      break;
    case pb::CreateRevocationRequest::kSubject:
      r = m_.revocations().RevokeSubject(req->subject(), req->reason());
      break;
    default:
      return ToGrpcStatus(absl::InvalidArgumentError("set either jti or subject to revoke"));
  }
  if (!r.ok()) return ToGrpcStatus(r.status());
  ToProto(*r, resp);
  return grpc::Status::OK;
}

grpc::Status IdentityService::ListRevocations(grpc::ServerContext* ctx,
                                              const pb::ListRevocationsRequest* req,
                                              pb::ListRevocationsResponse* resp) {
  auto size = PageSize(req->page_size());
  if (!size.ok()) return ToGrpcStatus(size.status());
  size_t offset = 0;
  if (!req->page_token().empty()) {
    auto raw = crypto::Base64UrlDecode(req->page_token());
    if (!raw.ok() || !absl::SimpleAtoi(crypto::AsString(*raw), &offset)) {
      return ToGrpcStatus(absl::InvalidArgumentError("page_token is not one this server issued"));
    }
  }
  auto page = m_.revocations().List(offset, static_cast<size_t>(*size));
  for (const auto& r : page) ToProto(r, resp->add_revocations());
  if (offset + page.size() < m_.revocations().size() && !page.empty()) {
    resp->set_next_page_token(crypto::Base64UrlEncode(std::to_string(offset + page.size())));
  }
  return grpc::Status::OK;
}

grpc::Status IdentityService::GetJwks(grpc::ServerContext* ctx, const pb::GetJwksRequest*,
                                      pb::Jwks* resp) {
  nlohmann::json jwks = m_.signing_keys().Jwks();
  for (const auto& k : jwks["keys"]) {
    auto* out = resp->add_keys();
    out->set_kty(k["kty"]);
    out->set_crv(k["crv"]);
    out->set_kid(k["kid"]);
    out->set_x(k["x"]);
    out->set_alg(k["alg"]);
    out->set_use(k["use"]);
  }
  resp->set_json(jwks.dump());
  return grpc::Status::OK;
}

grpc::Status IdentityService::ListSigningKeys(grpc::ServerContext* ctx,
                                              const pb::ListSigningKeysRequest*,
                                              pb::ListSigningKeysResponse* resp) {
  for (const auto& k : m_.signing_keys().List()) ToProto(k, resp->add_signing_keys());
  return grpc::Status::OK;
}

grpc::Status IdentityService::RotateSigningKey(grpc::ServerContext* ctx,
                                               const pb::RotateSigningKeyRequest*,
                                               pb::SigningKey* resp) {
  auto k = m_.signing_keys().Rotate();
  if (!k.ok()) return ToGrpcStatus(k.status());
  ToProto(*k, resp);
  return grpc::Status::OK;
}

grpc::Status IdentityService::ExchangeOidcToken(grpc::ServerContext* ctx,
                                                const pb::ExchangeOidcTokenRequest* req,
                                                pb::IssueTokenResponse* resp) {
  absl::Duration ttl = req->has_ttl() ? FromProtoDuration(req->ttl()) : absl::ZeroDuration();
  if (req->has_ttl() && ttl <= absl::ZeroDuration()) {
    return ToGrpcStatus(absl::InvalidArgumentError("ttl must be positive"));
  }
  auto t = m_.ExchangeOidc(req->id_token(), ttl);
  if (!t.ok()) return ToGrpcStatus(t.status());
  ToProto(*t, resp);
  return grpc::Status::OK;
}

grpc::Status IdentityService::CreateSecret(grpc::ServerContext* ctx,
                                           const pb::CreateSecretRequest* req, pb::Secret* resp) {
  auto s = m_.secrets().Create(req->secret_id(), crypto::AsBytes(req->value()));
  if (!s.ok()) return ToGrpcStatus(s.status());
  ToProto(*s, resp);
  return grpc::Status::OK;
}

grpc::Status IdentityService::UpdateSecret(grpc::ServerContext* ctx,
                                           const pb::UpdateSecretRequest* req, pb::Secret* resp) {
  auto id = SecretId(req->name());
  if (!id.ok()) return ToGrpcStatus(id.status());
  auto s = m_.secrets().Update(*id, crypto::AsBytes(req->value()), req->allow_missing());
  if (!s.ok()) return ToGrpcStatus(s.status());
  ToProto(*s, resp);
  return grpc::Status::OK;
}

grpc::Status IdentityService::GetSecret(grpc::ServerContext* ctx, const pb::GetSecretRequest* req,
                                        pb::Secret* resp) {
  auto id = SecretId(req->name());
  if (!id.ok()) return ToGrpcStatus(id.status());
  auto s = m_.secrets().Get(*id);
  if (!s.ok()) return ToGrpcStatus(s.status());
  ToProto(*s, resp);
  return grpc::Status::OK;
}

grpc::Status IdentityService::AccessSecret(grpc::ServerContext* ctx,
                                           const pb::AccessSecretRequest* req,
                                           pb::AccessSecretResponse* resp) {
  auto id = SecretId(req->name());
  if (!id.ok()) return ToGrpcStatus(id.status());
  auto v = m_.secrets().Access(*id);
  if (!v.ok()) return ToGrpcStatus(v.status());
  resp->set_name(req->name());
  resp->set_value(crypto::AsString(v->span()));
  log::Info("secret accessed", {{"secret", *id}});
  return grpc::Status::OK;
}

grpc::Status IdentityService::ListSecrets(grpc::ServerContext* ctx,
                                          const pb::ListSecretsRequest* req,
                                          pb::ListSecretsResponse* resp) {
  auto size = PageSize(req->page_size());
  if (!size.ok()) return ToGrpcStatus(size.status());
  std::string after;
  if (!req->page_token().empty()) {
    auto raw = crypto::Base64UrlDecode(req->page_token());
    if (!raw.ok() || !ValidateSecretId(crypto::AsString(*raw)).ok()) {
      return ToGrpcStatus(absl::InvalidArgumentError("page_token is not one this server issued"));
    }
    after = crypto::AsString(*raw);
  }
  // One extra row tells whether another page follows.
  auto list = m_.secrets().List(after, static_cast<size_t>(*size) + 1);
  if (!list.ok()) return ToGrpcStatus(list.status());
  bool more = list->size() > static_cast<size_t>(*size);
  if (more) list->pop_back();
  for (const auto& s : *list) ToProto(s, resp->add_secrets());
  if (more) resp->set_next_page_token(crypto::Base64UrlEncode(list->back().id));
  return grpc::Status::OK;
}

grpc::Status IdentityService::DeleteSecret(grpc::ServerContext* ctx,
                                           const pb::DeleteSecretRequest* req,
                                           google::protobuf::Empty*) {
  auto id = SecretId(req->name());
  if (!id.ok()) return ToGrpcStatus(id.status());
  return ToGrpcStatus(m_.secrets().Delete(*id));
}

grpc::Status IdentityService::RotateMasterKey(grpc::ServerContext* ctx,
                                              const pb::RotateMasterKeyRequest*,
                                              pb::RotateMasterKeyResponse* resp) {
  auto n = m_.RotateMasterKey();
  if (!n.ok()) return ToGrpcStatus(n.status());
  resp->set_resealed_records(*n);
  return grpc::Status::OK;
}

}  // namespace clawos::identity
