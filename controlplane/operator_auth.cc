#include "controlplane/operator_auth.h"

#include <arpa/inet.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace clawos::controlplane {

absl::StatusOr<Caller> OperatorAuth::Check(const http::Request& request, Access access,
                                           Caller* who) {
  if (access == Access::kPublic) return Caller{};
  if (access == Access::kLocal) {
    if (loopback_ && !IsForwarded(request)) return Caller{};
    access = Access::kViewer;
  }
  std::string h = request.Header("authorization");
  if (h.empty()) {
    return absl::UnauthenticatedError(
        "no token: send Authorization: Bearer <operator token> (clawos token issue --role admin, "
        "or the bootstrap token in the control plane's state directory)");
  }
  if (!absl::StartsWithIgnoreCase(h, "bearer ")) {
    return absl::UnauthenticatedError("the Authorization header must be \"Bearer <token>\"");
  }
  std::string token(absl::StripAsciiWhitespace(h.substr(7)));
  auto claims = verifier_.Verify(token);
  if (!claims.ok()) return claims.status();
  Caller c{claims->subject, claims->role, claims->jti};
  if (who) *who = c;
  bool admin = c.admin();
  if (!admin && c.role != "viewer") {
    return absl::PermissionDeniedError(
        absl::StrCat("role \"", c.role, "\" may not use the control plane (admin or viewer)"));
  }
  if (access == Access::kAdmin && !admin) {
    return absl::PermissionDeniedError(
        absl::StrCat(c.subject, " has role \"", c.role, "\": this call needs role admin"));
  }
  return c;
}

bool IsLoopbackHost(const std::string& host) {
  std::string h = absl::AsciiStrToLower(host);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h == "localhost" || h == "::1") return true;
  in_addr a{};
  return inet_pton(AF_INET, h.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

bool IsForwarded(const http::Request& request) {
  for (const char* h : {"x-forwarded-for", "forwarded", "x-real-ip"}) {
    for (const auto& [name, value] : request.headers) {
      if (absl::EqualsIgnoreCase(name, h)) return true;
    }
  }
  return false;
}

}  // namespace clawos::controlplane
