// What a verified ClawOS token says.
#pragma once

#include <string>

#include "absl/time/time.h"

namespace clawos::identity {

struct Claims {
  std::string issuer;
  std::string subject;
  std::string audience;
  absl::Time issued_at;
  absl::Time not_before;
  absl::Time expires_at;
  std::string jti;
  std::string role;               // "agent", "operator"/"admin" or "viewer"
  std::string identity_provider;  // set for tokens from an OIDC exchange
  std::string model;              // clawos_model: the one LLM model it may use; "" for any
  std::string kid;
};

}  // namespace clawos::identity
