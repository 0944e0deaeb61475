// Which ClawOS role an external (OIDC) principal gets: an allow-list per
// issuer in the --oidc-config file. Each rule matches one thing about the
// verified ID token and names a role:
//
//   "roles": [{"subject": "00u1abcd", "role": "admin"},            // the "sub" claim
//             {"email": "alice@example.com", "role": "admin"},     // needs email_verified: true
//             {"group": "clawos-viewers", "role": "viewer"}]       // in the groups claim
//
// No matching rule (or no rules at all): no role, and the exchange is
// refused. Several matching rules: the most privileged role wins (admin and
// operator over viewer). Nothing here throws on hostile claims.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace clawos::identity {

struct RoleRule {
  enum class Kind { kSubject, kEmail, kGroup };
  Kind kind = Kind::kSubject;
  std::string value;  // kEmail: lower case
  std::string role;   // admin, operator or viewer
};

struct RoleMapping {
  std::string groups_claim = "groups";  // string or array of strings
  std::vector<RoleRule> rules;
};

// A provider's "roles" array and "groups_claim" (`where` names the provider
// in errors). INVALID_ARGUMENT for a rule that is not exactly one of
// subject/email/group plus a role of admin, operator or viewer.
absl::StatusOr<RoleMapping> ParseRoleMapping(const nlohmann::json& provider,
                                             const std::string& where);

// Whether the token's email may be trusted: "email" a string and
// "email_verified" the JSON boolean true (not the string "true").
bool VerifiedEmail(const nlohmann::json& claims, std::string* email);

// The role the verified claims earn, or nullopt when no rule matches.
std::optional<std::string> MapRole(const RoleMapping& mapping, const nlohmann::json& claims);

}  // namespace clawos::identity
