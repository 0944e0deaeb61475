// OIDC token exchange: an ID token from a configured external issuer, checked
// against that issuer's JWKS (from a file; RS256, ES256 or EdDSA), becomes a
// ClawOS operator token with the role the issuer's allow-list gives it
// (oidc_roles.h). Configuration file (JSON):
//
//   {"operator_audience": "clawos-controlplane",
//    "providers": [{"issuer": "https://idp.example.com", "audience": "clawos",
//                   "jwks_file": "idp-jwks.json", "subject_claim": "sub",
//                   "subject_prefix": "oidc:", "groups_claim": "groups",
//                   "roles": [{"email": "alice@example.com", "role": "admin"}]}]}
//
// jwks_file is relative to the configuration file's directory. A principal
// no rule names gets no token (PERMISSION_DENIED).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/crypto/jwk.h"
#include "identity/oidc_roles.h"

namespace clawos::identity {

struct OidcProvider {
  std::string issuer;
  std::string audience;
  std::string subject_claim = "sub";
  // Put before the external subject so it cannot pass for an agent's
  // ("agents/...") or another issuer's subject.
  std::string subject_prefix = "oidc:";
  std::vector<crypto::JwkPublicKey> keys;
  RoleMapping roles;  // empty: nobody of this issuer gets a role
};

struct OidcConfig {
  std::string operator_audience = "clawos-controlplane";
  std::vector<OidcProvider> providers;
};

absl::StatusOr<OidcConfig> LoadOidcConfig(const std::string& path);
// Parses {"keys": [...]}; keys that cannot be used are an error, not skipped.
absl::StatusOr<std::vector<crypto::JwkPublicKey>> ParseJwks(const std::string& json);

struct ExternalIdentity {
  std::string issuer;
  std::string subject;  // subject_prefix + the subject claim
  std::string role;     // from the provider's allow-list
  absl::Time expires_at;
};

class OidcVerifier {
 public:
  OidcVerifier(OidcConfig config, const Clock& clock, absl::Duration leeway)
      : config_(std::move(config)), clock_(clock), leeway_(leeway) {}
  // UNAUTHENTICATED with the reason; PERMISSION_DENIED when the token is
  // good but no rule of its issuer gives it a role; FAILED_PRECONDITION when
  // no provider is set.
  absl::StatusOr<ExternalIdentity> Verify(std::string_view id_token) const;
  const OidcConfig& config() const { return config_; }

 private:
  // The subject and role from the verified claims `p`.
  absl::Status Identify(const OidcProvider& prov, const nlohmann::json& p,
                        ExternalIdentity* who) const;
  OidcConfig config_;
  const Clock& clock_;
  absl::Duration leeway_;
};

}  // namespace clawos::identity
