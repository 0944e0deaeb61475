// Verification of ClawOS tokens per RFC 8725 (JWT best current practice):
// the algorithm is fixed to EdDSA by us, never chosen by the token; the key is
// looked up by kid among keys we hold (keys named by the header are refused);
// typ, iss, aud, exp, nbf, iat, jti are all required and checked; revoked
// tokens and subjects are rejected. Every rejection is UNAUTHENTICATED with
// the reason.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/crypto/ed25519.h"
#include "identity/claims.h"
#include "identity/jws.h"

namespace clawos::identity {

inline constexpr absl::Duration kMaxLeeway = absl::Minutes(5);

struct VerifierConfig {
  std::string issuer;
  absl::Duration leeway = absl::Seconds(30);  // bounded by kMaxLeeway
  size_t max_token_bytes = kMaxTokenBytes;
};

struct VerifierDeps {
  std::function<std::optional<crypto::Ed25519PublicKey>(const std::string& kid)> find_key;
  std::function<bool(const std::string& jti)> token_revoked;
  std::function<bool(const std::string& subject, absl::Time issued_at)> subject_revoked;
};

class TokenVerifier {
 public:
  TokenVerifier(VerifierConfig config, VerifierDeps deps, const Clock& clock);
  // `audience` is required: a token is only ever valid for a named audience.
  absl::StatusOr<Claims> Verify(std::string_view token, const std::string& audience) const;

 private:
  VerifierConfig config_;
  VerifierDeps deps_;
  const Clock& clock_;
};

}  // namespace clawos::identity
