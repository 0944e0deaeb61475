#include "identity/oidc_roles.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace clawos::identity {
namespace {

using nlohmann::json;

int Rank(const std::string& role) { return role == "viewer" ? 1 : 2; }

absl::StatusOr<RoleRule> ParseRule(const json& r, const std::string& where) {
  if (!r.is_object()) return absl::InvalidArgumentError(where + ": a rule is not an object");
  RoleRule rule;
  int kinds = 0;
  for (const auto& [key, kind] : {std::pair{"subject", RoleRule::Kind::kSubject},
                                  {"email", RoleRule::Kind::kEmail},
                                  {"group", RoleRule::Kind::kGroup}}) {
    if (!r.contains(key)) continue;
    ++kinds;
    if (!r[key].is_string() || r[key].get<std::string>().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": \"", key, "\" must be a string"));
    }
    rule.kind = kind;
    rule.value = r[key].get<std::string>();
  }
  if (kinds != 1) {
    return absl::InvalidArgumentError(
        where + ": each rule needs exactly one of \"subject\", \"email\", \"group\"");
  }
  if (rule.kind == RoleRule::Kind::kEmail) rule.value = absl::AsciiStrToLower(rule.value);
  if (!r.contains("role") || !r["role"].is_string()) {
    return absl::InvalidArgumentError(where + ": each rule needs a \"role\"");
  }
  rule.role = r["role"].get<std::string>();
  if (rule.role != "admin" && rule.role != "operator" && rule.role != "viewer") {
    return absl::InvalidArgumentError(absl::StrCat(where, ": role \"", rule.role.substr(0, 32),
                                                   "\" is not admin, operator or viewer"));
  }
  for (const auto& [key, v] : r.items()) {
    if (key != "subject" && key != "email" && key != "group" && key != "role") {
      return absl::InvalidArgumentError(absl::StrCat(where, ": unknown rule key \"", key, "\""));
    }
  }
  return rule;
}

bool InGroups(const json& claims, const std::string& claim, const std::string& group) {
  auto it = claims.find(claim);
  if (it == claims.end()) return false;
  if (it->is_string()) return *it == group;
  if (!it->is_array()) return false;
  for (const auto& g : *it) {
    if (g.is_string() && g == group) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<RoleMapping> ParseRoleMapping(const json& provider, const std::string& where) {
  RoleMapping m;
  if (provider.contains("groups_claim")) {
    const json& g = provider["groups_claim"];
    if (!g.is_string() || g.get<std::string>().empty()) {
      return absl::InvalidArgumentError(where + ": \"groups_claim\" must be a claim name");
    }
    m.groups_claim = g.get<std::string>();
  }
  if (!provider.contains("roles")) return m;  // nobody gets a role
  if (!provider["roles"].is_array()) {
    return absl::InvalidArgumentError(where + ": \"roles\" must be an array of rules");
  }
  for (const auto& r : provider["roles"]) {
    auto rule = ParseRule(r, absl::StrCat(where, ".roles[", m.rules.size(), "]"));
    if (!rule.ok()) return rule.status();
    m.rules.push_back(*std::move(rule));
  }
  return m;
}

bool VerifiedEmail(const json& claims, std::string* email) {
  auto e = claims.find("email");
  auto v = claims.find("email_verified");
  if (e == claims.end() || !e->is_string() || v == claims.end() || !v->is_boolean()) return false;
  if (!v->get<bool>()) return false;
  *email = absl::AsciiStrToLower(e->get<std::string>());
  return !email->empty();
}

std::optional<std::string> MapRole(const RoleMapping& mapping, const json& claims) {
  std::string sub, email;
  if (auto s = claims.find("sub"); s != claims.end() && s->is_string()) sub = s->get<std::string>();
  const bool verified = VerifiedEmail(claims, &email);
  std::optional<std::string> best;
  for (const RoleRule& r : mapping.rules) {
    bool match = false;
    switch (r.kind) {
      case RoleRule::Kind::kSubject:
        match = !sub.empty() && sub == r.value;
        break;
      case RoleRule::Kind::kEmail:
        match = verified && email == r.value;
        break;
      case RoleRule::Kind::kGroup:
        match = InGroups(claims, mapping.groups_claim, r.value);
        break;
    }
    if (match && (!best || Rank(r.role) > Rank(*best))) best = r.role;
  }
  return best;
}

}  // namespace clawos::identity
