#include "identity/token_issuer.h"

#include "absl/strings/str_cat.h"
#include "common/crypto/encoding.h"
#include "common/crypto/random.h"
#include "common/duration.h"
#include "common/status.h"
#include "identity/jws.h"

namespace clawos::identity {

absl::StatusOr<IssuedToken> TokenIssuer::Issue(const IssueRequest& r) const {
  RETURN_IF_ERROR(ValidateName("subject", r.subject));
  RETURN_IF_ERROR(ValidateName("audience", r.audience));
  if (r.role != "agent" && r.role != "operator" && r.role != "admin" && r.role != "viewer") {
    return absl::InvalidArgumentError(absl::StrCat(
        "role \"", r.role.substr(0, 32), "\" is not one of agent, operator, admin, viewer"));
  }
  if (!r.model.empty()) RETURN_IF_ERROR(ValidateName("model", r.model));
  absl::Duration ttl = r.ttl == absl::ZeroDuration() ? config_.default_ttl : r.ttl;
  if (ttl < absl::Seconds(1)) return absl::InvalidArgumentError("ttl must be at least 1s");
  if (ttl > config_.max_ttl) {
    return absl::InvalidArgumentError(
        absl::StrCat("ttl ", clawos::FormatDuration(ttl), " exceeds the maximum ",
                     clawos::FormatDuration(config_.max_ttl), " (--max-ttl)"));
  }
  auto current = keys_.current();
  if (!current.key) return absl::UnavailableError("no signing key loaded");
  ASSIGN_OR_RETURN(std::string jti, crypto::RandomId(16));
  absl::Time now = absl::FromUnixSeconds(absl::ToUnixSeconds(clock_.Now()));
  Claims c{config_.issuer, r.subject,           r.audience, now,        now, now + ttl, jti,
           r.role,         r.identity_provider, r.model,    current.kid};
  nlohmann::json header = {{"alg", "EdDSA"}, {"typ", "JWT"}, {"kid", current.kid}};
  nlohmann::json payload = {{"iss", c.issuer},
                            {"sub", c.subject},
                            {"aud", c.audience},
                            {"iat", absl::ToUnixSeconds(c.issued_at)},
                            {"nbf", absl::ToUnixSeconds(c.not_before)},
                            {"exp", absl::ToUnixSeconds(c.expires_at)},
                            {"jti", c.jti},
                            {"role", c.role}};
  if (!c.identity_provider.empty()) payload["idp"] = c.identity_provider;
  if (!c.model.empty()) payload["clawos_model"] = c.model;
  std::string input = SigningInput(header, payload);
  ASSIGN_OR_RETURN(auto sig, current.key->Sign(crypto::AsBytes(input)));
  return IssuedToken{CompactJws(input, std::vector<uint8_t>(sig.begin(), sig.end())), c};
}

}  // namespace clawos::identity
