// Who is calling the control plane: `Authorization: Bearer <operator JWT>`
// from clawos-identity (audience clawos-controlplane), verified locally.
// Roles: "admin" (or "operator") may do everything, "viewer" may read;
// agent tokens are refused.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "common/http/server.h"
#include "controlplane/routes.h"
#include "identity/remote_verifier.h"

namespace clawos::controlplane {

inline constexpr char kAudience[] = "clawos-controlplane";

struct Caller {
  std::string subject;
  std::string role;
  std::string jti;
  // May make kAdmin calls: the "admin" and "operator" roles.
  bool admin() const { return role == "admin" || role == "operator"; }
};

class OperatorAuth {
 public:
  explicit OperatorAuth(identity::RemoteVerifier& verifier) : verifier_(verifier) {}
  // UNAUTHENTICATED without a valid token, PERMISSION_DENIED when the role
  // may not make this call (`who` then names the caller, for the audit log).
  // kPublic routes need no token.
  absl::StatusOr<Caller> Check(const http::Request& request, Access access, Caller* who = nullptr);

 private:
  identity::RemoteVerifier& verifier_;
};

}  // namespace clawos::controlplane
