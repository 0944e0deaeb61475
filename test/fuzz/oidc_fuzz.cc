// libFuzzer target for the OIDC exchange's token checks (identity/oidc.h,
// identity/oidc_roles.h): an ID token from anyone who can reach the identity
// daemon, verified against one configured issuer whose JWKS holds the
// fuzzer's own Ed25519 key, and mapped to a role by its allow-list.
//
// Input byte 0 % 4 picks the mode; the rest is the input:
//   0: a compact token, verified as is;
//   1: "<header JSON>\n<payload JSON>", signed with the issuer's key, so the
//      checks past the signature (audience, dates, subject, roles) are reached;
//   2: a JWKS document (ParseJwks);
//   3: "<provider JSON>\n<claims JSON>": its "roles" (ParseRoleMapping) and
//      the role those claims earn (MapRole).
// An exception is a crash (std::terminate). Properties checked beside the
// sanitizers: a refusal is UNAUTHENTICATED, or PERMISSION_DENIED for a good
// token no rule maps; an accepted token is signed by the issuer's key with
// alg EdDSA and no key-choosing header, names the audience, has not expired,
// is not from the future, has the prefixed subject in the name grammar, and
// its role is the one an independent reading of the allow-list gives; a
// parsed JWKS has keys of the three algorithms; parsed rules have the three
// roles and lower-case emails.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "common/clock.h"
#include "common/crypto/ed25519.h"
#include "common/crypto/encoding.h"
#include "identity/jws.h"
#include "identity/oidc.h"
#include "identity/oidc_roles.h"
#include "test/fuzz/require.h"

namespace {

using namespace clawos;
using namespace clawos::identity;
using nlohmann::json;

constexpr char kIssuer[] = "https://idp.example.com";
constexpr char kAudience[] = "clawos";
const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);
const absl::Duration kLeeway = absl::Seconds(30);

using clawos::fuzz::Require;

const crypto::Ed25519PrivateKey& Key() {
  static auto* k = new crypto::Ed25519PrivateKey(
      crypto::Ed25519PrivateKey::FromSeed(std::vector<uint8_t>(32, 9)).value());
  return *k;
}

// The allow-list every mode-0/1 token is mapped by.
const json& Provider() {
  static const json* p = new json{{"issuer", kIssuer},
                                  {"groups_claim", "groups"},
                                  {"roles",
                                   {{{"subject", "alice"}, {"role", "admin"}},
                                    {{"email", "Bob@Example.com"}, {"role", "operator"}},
                                    {{"group", "viewers"}, {"role", "viewer"}},
                                    {{"group", "ops"}, {"role", "operator"}}}}};
  return *p;
}

const OidcVerifier& Verifier() {
  static ManualClock* clock = new ManualClock(kNow);
  static OidcVerifier* v = [] {
    OidcProvider prov;
    prov.issuer = kIssuer;
    prov.audience = kAudience;
    json jwk = {{"kty", "OKP"},
                {"crv", "Ed25519"},
                {"kid", "k1"},
                {"x", crypto::Base64UrlEncode(Key().public_key())}};
    prov.keys = ParseJwks(json{{"keys", {jwk}}}.dump()).value();
    prov.roles = ParseRoleMapping(Provider(), "fuzz").value();
    OidcConfig cfg;
    cfg.providers.push_back(std::move(prov));
    return new OidcVerifier(std::move(cfg), *clock, kLeeway);
  }();
  return *v;
}

// The role the allow-list gives `claims`, read independently of MapRole.
std::optional<std::string> ExpectedRole(const RoleMapping& m, const json& claims) {
  auto str = [&](const char* k) -> std::optional<std::string> {
    if (!claims.is_object() || !claims.contains(k) || !claims[k].is_string()) return std::nullopt;
    return claims[k].get<std::string>();
  };
  const bool verified = claims.is_object() && claims.contains("email_verified") &&
                        claims["email_verified"] == json(true);
  std::optional<std::string> best;
  for (const RoleRule& r : m.rules) {
    bool match = false;
    if (r.kind == RoleRule::Kind::kSubject) match = str("sub") == r.value;
    if (r.kind == RoleRule::Kind::kEmail) {
      auto e = str("email");
      match = verified && e && absl::AsciiStrToLower(*e) == r.value;
    }
    if (r.kind == RoleRule::Kind::kGroup && claims.is_object() && claims.contains(m.groups_claim)) {
      const json& g = claims[m.groups_claim];
      match = g == json(r.value);
      if (g.is_array()) {
        for (const json& x : g) match = match || x == json(r.value);
      }
    }
    if (match && (!best || (*best == "viewer" && r.role != "viewer"))) best = r.role;
  }
  return best;
}

std::optional<int64_t> Seconds(const json& p, const char* k) {
  if (!p.contains(k)) return std::nullopt;
  auto t = NumericDate(p[k]);
  Require(t.has_value());  // an accepted token's dates are NumericDates
  return absl::ToUnixSeconds(*t);
}

void CheckVerify(const std::string& token) {
  auto who = Verifier().Verify(token);
  if (!who.ok()) {
    absl::StatusCode c = who.status().code();
    Require(c == absl::StatusCode::kUnauthenticated || c == absl::StatusCode::kPermissionDenied);
    return;
  }
  auto jws = ParseJws(token);
  Require(jws.ok());
  const json& h = jws->header;
  const json& p = jws->payload;
  Require(h["alg"] == "EdDSA");
  for (const char* k : {"jku", "jwk", "x5u", "x5c", "crit"}) Require(!h.contains(k));
  Require(crypto::Ed25519Verify(Key().public_key(), crypto::AsBytes(jws->signing_input),
                                jws->signature));
  Require(p["iss"] == kIssuer && who->issuer == kIssuer);
  bool aud = p["aud"] == kAudience;
  if (p["aud"].is_array()) {
    for (const json& a : p["aud"]) aud = aud || a == kAudience;
  }
  Require(aud);
  auto exp = Seconds(p, "exp");
  Require(exp && kNow < absl::FromUnixSeconds(*exp) + kLeeway);
  for (const char* k : {"nbf", "iat"}) {
    auto t = Seconds(p, k);
    Require(!t || absl::FromUnixSeconds(*t) <= kNow + kLeeway);
  }
  Require(p["sub"].is_string() && who->subject == "oidc:" + p["sub"].get<std::string>());
  Require(ValidateName("subject", who->subject).ok());
  Require(ExpectedRole(Verifier().config().providers[0].roles, p) == who->role);
}

void CheckJwks(const std::string& text) {
  auto keys = ParseJwks(text);
  if (!keys.ok()) {
    Require(keys.status().code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  Require(!keys->empty());
  for (const auto& k : *keys)
    Require(k.alg() == "RS256" || k.alg() == "ES256" || k.alg() == "EdDSA");
}

void CheckRoles(const json& provider, const json& claims) {
  auto m = ParseRoleMapping(provider, "fuzz");
  if (!m.ok()) {
    Require(m.status().code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  Require(!m->groups_claim.empty());
  for (const RoleRule& r : m->rules) {
    Require(r.role == "admin" || r.role == "operator" || r.role == "viewer");
    Require(!r.value.empty());
    if (r.kind == RoleRule::Kind::kEmail) Require(absl::AsciiStrToLower(r.value) == r.value);
  }
  Require(MapRole(*m, claims) == ExpectedRole(*m, claims));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  size_t nl = rest.find('\n');
  switch (data[0] % 4) {
    case 0:
      CheckVerify(rest);
      break;
    case 1: {
      if (nl == std::string::npos) return 0;
      json header = json::parse(rest.substr(0, nl), nullptr, false);
      json payload = json::parse(rest.substr(nl + 1), nullptr, false);
      if (header.is_discarded() || payload.is_discarded()) return 0;
      std::string input = SigningInput(header, payload);
      auto sig = Key().Sign(crypto::AsBytes(input));
      if (!sig.ok()) return 0;
      CheckVerify(CompactJws(input, std::vector<uint8_t>(sig->begin(), sig->end())));
      break;
    }
    case 2:
      CheckJwks(rest);
      break;
    default: {
      if (nl == std::string::npos) return 0;
      json provider = json::parse(rest.substr(0, nl), nullptr, false);
      json claims = json::parse(rest.substr(nl + 1), nullptr, false);
      if (provider.is_discarded() || claims.is_discarded() || !claims.is_object()) return 0;
      CheckRoles(provider, claims);
    }
  }
  return 0;
}
