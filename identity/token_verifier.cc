#include "identity/token_verifier.h"

#include "absl/strings/str_cat.h"
#include "common/crypto/encoding.h"

namespace clawos::identity {
namespace {

absl::Status Reject(const std::string& why) {
  return absl::UnauthenticatedError(absl::StrCat("token rejected: ", why));
}

// Header members that would let the token name or carry its own key (RFC 8725 §3.10).
constexpr const char* kForbiddenHeaders[] = {"jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256", "crit"};

absl::StatusOr<std::string> StringClaim(const nlohmann::json& p, const char* name) {
  auto it = p.find(name);
  if (it == p.end()) return Reject(absl::StrCat("missing \"", name, "\" claim"));
  if (!it->is_string()) return Reject(absl::StrCat("\"", name, "\" claim is not a string"));
  std::string v = it->get<std::string>();
  if (v.empty()) return Reject(absl::StrCat("\"", name, "\" claim is empty"));
  return v;
}

absl::StatusOr<absl::Time> TimeClaim(const nlohmann::json& p, const char* name) {
  auto it = p.find(name);
  if (it == p.end()) return Reject(absl::StrCat("missing \"", name, "\" claim"));
  auto t = NumericDate(*it);
  if (!t) return Reject(absl::StrCat("\"", name, "\" claim is not an integer NumericDate"));
  return *t;
}

std::string Iso(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

}  // namespace

TokenVerifier::TokenVerifier(VerifierConfig config, VerifierDeps deps, const Clock& clock)
    : config_(std::move(config)), deps_(std::move(deps)), clock_(clock) {
  config_.leeway = std::clamp(config_.leeway, absl::ZeroDuration(), kMaxLeeway);
}

absl::StatusOr<Claims> TokenVerifier::Verify(std::string_view token,
                                             const std::string& audience) const {
  if (audience.empty()) {
    return absl::InvalidArgumentError("an expected audience is required to verify a token");
  }
  auto jws = ParseJws(token, config_.max_token_bytes);
  if (!jws.ok()) return jws.status();
  const nlohmann::json& h = jws->header;

  // 1. Header: our algorithm, our type, a key we hold.
  auto alg = h.find("alg");
  if (alg == h.end() || !alg->is_string()) return Reject("header has no \"alg\"");
  if (alg->get<std::string>() != "EdDSA") {
    return Reject(absl::StrCat("algorithm \"", alg->get<std::string>().substr(0, 32),
                               "\" is not accepted (only EdDSA)"));
  }
  auto typ = h.find("typ");
  if (typ == h.end() || !typ->is_string() || typ->get<std::string>() != "JWT") {
    return Reject("header \"typ\" must be \"JWT\"");
  }
  for (const char* name : kForbiddenHeaders) {
    if (h.contains(name))
      return Reject(absl::StrCat("header member \"", name, "\" is not accepted"));
  }
  auto kid = h.find("kid");
  if (kid == h.end() || !kid->is_string()) return Reject("header has no \"kid\"");
  std::string kid_s = kid->get<std::string>();
  auto key = deps_.find_key(kid_s);
  if (!key) return Reject(absl::StrCat("unknown signing key \"", kid_s.substr(0, 64), "\""));

  // 2. Signature, before any claim is believed.
  if (jws->signature.size() != 64) return Reject("signature is not 64 bytes");
  if (!crypto::Ed25519Verify(*key, crypto::AsBytes(jws->signing_input), jws->signature)) {
    return Reject("signature does not verify");
  }

  // 3. Claims.
  const nlohmann::json& p = jws->payload;
  Claims c;
  c.kid = kid_s;
  auto iss = StringClaim(p, "iss");
  if (!iss.ok()) return iss.status();
  if (*iss != config_.issuer) {
    return Reject(
        absl::StrCat("issuer \"", iss->substr(0, 64), "\" is not \"", config_.issuer, "\""));
  }
  c.issuer = *iss;
  auto sub = StringClaim(p, "sub");
  if (!sub.ok()) return sub.status();
  c.subject = *sub;
  auto aud = p.find("aud");
  if (aud == p.end()) return Reject("missing \"aud\" claim");
  bool aud_ok = false;
  if (aud->is_string()) {
    aud_ok = aud->get<std::string>() == audience;
  } else if (aud->is_array()) {
    for (const auto& a : *aud)
      aud_ok = aud_ok || (a.is_string() && a.get<std::string>() == audience);
  } else {
    return Reject("\"aud\" claim is neither a string nor an array");
  }
  if (!aud_ok) return Reject(absl::StrCat("token is not for audience \"", audience, "\""));
  c.audience = audience;
  auto jti = StringClaim(p, "jti");
  if (!jti.ok()) return jti.status();
  c.jti = *jti;
  auto exp = TimeClaim(p, "exp");
  if (!exp.ok()) return exp.status();
  auto nbf = TimeClaim(p, "nbf");
  if (!nbf.ok()) return nbf.status();
  auto iat = TimeClaim(p, "iat");
  if (!iat.ok()) return iat.status();
  c.expires_at = *exp;
  c.not_before = *nbf;
  c.issued_at = *iat;
  absl::Time now = clock_.Now();
  if (now >= *exp + config_.leeway) return Reject(absl::StrCat("token expired at ", Iso(*exp)));
  if (now + config_.leeway < *nbf)
    return Reject(absl::StrCat("token not valid before ", Iso(*nbf)));
  if (now + config_.leeway < *iat) return Reject("token issued in the future");
  if (auto role = p.find("role"); role != p.end() && role->is_string()) c.role = *role;
  if (auto idp = p.find("idp"); idp != p.end() && idp->is_string()) c.identity_provider = *idp;
  if (auto m = p.find("clawos_model"); m != p.end()) {
    if (!m->is_string() || m->get<std::string>().empty()) return Reject("malformed clawos_model");
    c.model = *m;
  }

  // 4. Revocation.
  if (deps_.token_revoked && deps_.token_revoked(c.jti)) return Reject("token has been revoked");
  if (deps_.subject_revoked && deps_.subject_revoked(c.subject, c.issued_at)) {
    return Reject(absl::StrCat("subject \"", c.subject, "\" has been revoked"));
  }
  return c;
}

}  // namespace clawos::identity
