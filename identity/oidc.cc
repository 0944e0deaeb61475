#include "identity/oidc.h"

#include "absl/strings/str_cat.h"
#include "common/crypto/encoding.h"
#include "common/files.h"
#include "common/status.h"
#include "identity/jws.h"
#include "identity/token_issuer.h"

namespace clawos::identity {
namespace {

absl::Status Reject(const std::string& why) {
  return absl::UnauthenticatedError(absl::StrCat("ID token rejected: ", why));
}

absl::StatusOr<nlohmann::json> ParseJsonFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a JSON object"));
  }
  return j;
}

// `obj[key]` into *out when present; INVALID_ARGUMENT when it is not a string.
absl::Status StringField(const nlohmann::json& obj, const char* key, const std::string& where,
                         std::string* out) {
  if (!obj.contains(key)) return absl::OkStatus();
  if (!obj[key].is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": \"", key, "\" must be a string"));
  }
  *out = obj[key].get<std::string>();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<crypto::JwkPublicKey>> ParseJwks(const std::string& json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("keys") || !j["keys"].is_array()) {
    return absl::InvalidArgumentError("JWKS must be a JSON object with a \"keys\" array");
  }
  std::vector<crypto::JwkPublicKey> out;
  for (const auto& k : j["keys"]) {
    ASSIGN_OR_RETURN(auto key, crypto::JwkPublicKey::FromJson(k));
    out.push_back(std::move(key));
  }
  if (out.empty()) return absl::InvalidArgumentError("JWKS holds no keys");
  return out;
}

absl::StatusOr<OidcConfig> LoadOidcConfig(const std::string& path) {
  ASSIGN_OR_RETURN(auto j, ParseJsonFile(path));
  OidcConfig cfg;
  RETURN_IF_ERROR(StringField(j, "operator_audience", path, &cfg.operator_audience));
  std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
  if (!j.contains("providers") || !j["providers"].is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": \"providers\" must be an array"));
  }
  for (const auto& p : j["providers"]) {
    const std::string where = absl::StrCat(path, ": providers[", cfg.providers.size(), "]");
    if (!p.is_object()) return absl::InvalidArgumentError(where + " is not an object");
    OidcProvider prov;
    std::string jwks;
    RETURN_IF_ERROR(StringField(p, "issuer", where, &prov.issuer));
    RETURN_IF_ERROR(StringField(p, "audience", where, &prov.audience));
    RETURN_IF_ERROR(StringField(p, "subject_claim", where, &prov.subject_claim));
    RETURN_IF_ERROR(StringField(p, "subject_prefix", where, &prov.subject_prefix));
    RETURN_IF_ERROR(StringField(p, "jwks_file", where, &jwks));
    if (prov.issuer.empty() || prov.audience.empty() || jwks.empty() ||
        prov.subject_claim.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": each provider needs issuer, audience and jwks_file"));
    }
    ASSIGN_OR_RETURN(prov.roles, ParseRoleMapping(p, where));
    if (jwks[0] != '/') jwks = dir + "/" + jwks;
    ASSIGN_OR_RETURN(std::string text, ReadFile(jwks));
    auto keys = ParseJwks(text);
    if (!keys.ok()) return Annotate(keys.status(), jwks);
    prov.keys = std::move(*keys);
    cfg.providers.push_back(std::move(prov));
  }
  return cfg;
}

absl::StatusOr<ExternalIdentity> OidcVerifier::Verify(std::string_view id_token) const {
  if (config_.providers.empty()) {
    return absl::FailedPreconditionError("no OIDC provider is configured (--oidc-config)");
  }
  auto jws = ParseJws(id_token);
  if (!jws.ok()) return jws.status();
  const auto& h = jws->header;
  const auto& p = jws->payload;
  // The issuer picks the provider; the provider's keys pick the algorithm.
  auto iss = p.find("iss");
  if (iss == p.end() || !iss->is_string()) return Reject("missing \"iss\"");
  const OidcProvider* prov = nullptr;
  for (const auto& cand : config_.providers) {
    if (cand.issuer == iss->get<std::string>()) prov = &cand;
  }
  if (!prov)
    return Reject(
        absl::StrCat("issuer \"", iss->get<std::string>().substr(0, 128), "\" is not configured"));
  auto alg = h.find("alg");
  if (alg == h.end() || !alg->is_string()) return Reject("header has no \"alg\"");
  for (const char* name : {"jku", "jwk", "x5u", "x5c", "crit"}) {
    if (h.contains(name))
      return Reject(absl::StrCat("header member \"", name, "\" is not accepted"));
  }
  std::string kid = h.contains("kid") && h["kid"].is_string() ? h["kid"].get<std::string>() : "";
  const crypto::JwkPublicKey* key = nullptr;
  for (const auto& k : prov->keys) {
    if (kid.empty() ? prov->keys.size() == 1 : k.kid() == kid) key = &k;
  }
  if (!key) return Reject(absl::StrCat("no key \"", kid.substr(0, 64), "\" in the issuer's JWKS"));
  if (alg->get<std::string>() != key->alg()) {
    return Reject(absl::StrCat("algorithm \"", alg->get<std::string>().substr(0, 16),
                               "\" does not match the key (", key->alg(), ")"));
  }
  if (!key->Verify(crypto::AsBytes(jws->signing_input), jws->signature)) {
    return Reject("signature does not verify");
  }
  auto aud = p.find("aud");
  bool aud_ok = false;
  if (aud != p.end() && aud->is_string()) aud_ok = *aud == prov->audience;
  if (aud != p.end() && aud->is_array()) {
    for (const auto& a : *aud) aud_ok = aud_ok || (a.is_string() && a == prov->audience);
  }
  if (!aud_ok) return Reject(absl::StrCat("not issued for audience \"", prov->audience, "\""));
  absl::Time now = clock_.Now();
  auto date = [&](const char* name) -> std::optional<absl::Time> {
    auto it = p.find(name);
    return it == p.end() ? std::nullopt : NumericDate(*it);
  };
  auto exp = date("exp");
  if (!exp) return Reject("\"exp\" is missing or not an integer NumericDate");
  if (now >= *exp + leeway_) return Reject("expired");
  for (const char* name : {"nbf", "iat"}) {
    if (!p.contains(name)) continue;
    auto t = date(name);
    if (!t) return Reject(absl::StrCat("\"", name, "\" is not an integer NumericDate"));
    if (now + leeway_ < *t) return Reject(absl::StrCat("\"", name, "\" is in the future"));
  }
  ExternalIdentity who{prov->issuer, "", "", *exp};
  RETURN_IF_ERROR(Identify(*prov, p, &who));
  return who;
}

absl::Status OidcVerifier::Identify(const OidcProvider& prov, const nlohmann::json& p,
                                    ExternalIdentity* who) const {
  auto sub = p.find(prov.subject_claim);
  if (sub == p.end() || !sub->is_string() || sub->get<std::string>().empty()) {
    return Reject(absl::StrCat("missing \"", prov.subject_claim, "\" claim"));
  }
  std::string email;
  if (prov.subject_claim == "email" && !VerifiedEmail(p, &email)) {
    return Reject("the subject is the email, and \"email_verified\" is not true");
  }
  who->subject = prov.subject_prefix + sub->get<std::string>();
  if (!ValidateName("subject", who->subject).ok()) {
    return Reject(absl::StrCat("\"", prov.subject_claim,
                               "\" claim is not 1-256 printable characters without spaces"));
  }
  auto role = MapRole(prov.roles, p);
  if (!role) {
    return absl::PermissionDeniedError(absl::StrCat(
        who->subject, " of ", prov.issuer,
        " has no ClawOS role: no rule in the issuer's \"roles\" (--oidc-config) names its "
        "subject, verified email or groups"));
  }
  who->role = *role;
  return absl::OkStatus();
}

}  // namespace clawos::identity
