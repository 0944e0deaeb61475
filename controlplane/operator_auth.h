// Who is calling the control plane: `Authorization: Bearer <operator JWT>`
// from clawos-identity (audience clawos-controlplane), verified locally.
// Roles: "admin" (or "operator") may do everything, "viewer" may read;
// agent tokens are refused. kLocal routes (/metrics) need no token only from
// a direct caller on a loopback listener: a request that came through a
// proxy (X-Forwarded-For, Forwarded or X-Real-IP; nginx sets the first) or a
// listener on another address needs a viewer token.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "common/http/server.h"
#include "identity/remote_verifier.h"

namespace clawos::controlplane {

inline constexpr char kAudience[] = "clawos-controlplane";

// kPublic: no token (health, the API document). kLocal (metrics): no token
// for a direct caller on a loopback listener, else as kViewer. kViewer: any
// operator token. kAdmin: role admin (or operator); every such call is
// audited. A method's (clawos.api.v1.access) is one of kPublic, kViewer and
// kAdmin.
enum class Access { kPublic, kLocal, kViewer, kAdmin };

struct Caller {
  std::string subject;
  std::string role;
  std::string jti;
  // May make kAdmin calls: the "admin" and "operator" roles.
  bool admin() const { return role == "admin" || role == "operator"; }
};

class OperatorAuth {
 public:
  // `loopback_listener`: the control plane listens on 127.0.0.0/8 or ::1 only.
  OperatorAuth(identity::RemoteVerifier& verifier, bool loopback_listener)
      : verifier_(verifier), loopback_(loopback_listener) {}
  // UNAUTHENTICATED without a valid token, PERMISSION_DENIED when the role
  // may not make this call (`who` then names the caller, for the audit log).
  // kPublic routes need no token.
  absl::StatusOr<Caller> Check(const http::Request& request, Access access, Caller* who = nullptr);

 private:
  identity::RemoteVerifier& verifier_;
  bool loopback_;
};

// Whether `host` (of --listen) is a loopback address: 127.0.0.0/8, ::1, localhost.
bool IsLoopbackHost(const std::string& host);
// Whether a proxy forwarded the request (it names the original client).
bool IsForwarded(const http::Request& request);

}  // namespace clawos::controlplane
