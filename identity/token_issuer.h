// Issues ClawOS tokens: compact JWS, EdDSA, with iss/sub/aud/iat/nbf/exp/jti
// and the role; kid names the signing key.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "identity/claims.h"
#include "identity/jws.h"  // ValidateName, the subject/audience grammar
#include "identity/signing_keys.h"

namespace clawos::identity {

struct IssuerConfig {
  std::string issuer = "clawos-identity";
  absl::Duration default_ttl = absl::Minutes(10);
  absl::Duration max_ttl = absl::Hours(24);
};

struct IssueRequest {
  std::string subject;
  std::string audience;
  absl::Duration ttl = absl::ZeroDuration();  // zero: default
  std::string role = "agent";
  std::string identity_provider;
  std::string model;  // the clawos_model claim; "" for none
};

struct IssuedToken {
  std::string token;
  Claims claims;
};

class TokenIssuer {
 public:
  TokenIssuer(IssuerConfig config, const SigningKeys& keys, const Clock& clock)
      : config_(std::move(config)), keys_(keys), clock_(clock) {}
  absl::StatusOr<IssuedToken> Issue(const IssueRequest& request) const;
  const IssuerConfig& config() const { return config_; }

 private:
  IssuerConfig config_;
  const SigningKeys& keys_;
  const Clock& clock_;
};

}  // namespace clawos::identity
