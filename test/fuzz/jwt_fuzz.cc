// libFuzzer target for the JWT parser and verifier.
//
// Input byte 0 picks the mode:
//   even: the rest is a compact token, verified as is (parser, header checks);
//   odd:  the rest is "<header JSON>\n<payload JSON>", signed with the
//         fuzzer's own trusted key, so claim checking past the signature is
//         reached too.
// Properties checked: no crash/UB/leak (sanitizers), every rejection is
// UNAUTHENTICATED, and an accepted token really is signed by the trusted key
// for the expected audience and issuer.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/crypto/ed25519.h"
#include "common/crypto/encoding.h"
#include "identity/jws.h"
#include "identity/token_verifier.h"

namespace {

using namespace clawos;

const crypto::Ed25519PrivateKey& Key() {
  static auto* k = new crypto::Ed25519PrivateKey(
      crypto::Ed25519PrivateKey::FromSeed(std::vector<uint8_t>(32, 42)).value());
  return *k;
}

const identity::TokenVerifier& Verifier() {
  static ManualClock* clock = new ManualClock(absl::FromUnixSeconds(1'800'000'000));
  static auto* v = new identity::TokenVerifier(
      {"clawos-identity", absl::Seconds(30), identity::kMaxTokenBytes},
      {[](const std::string& kid) -> std::optional<crypto::Ed25519PublicKey> {
         if (kid == "k1") return Key().public_key();
         return std::nullopt;
       },
       [](const std::string& jti) { return jti == "revoked"; },
       [](const std::string& sub, absl::Time) { return sub == "revoked"; }},
      *clock);
  return *v;
}

void Check(const std::string& token) {
  auto claims = Verifier().Verify(token, "aud");
  if (!claims.ok()) {
    if (claims.status().code() != absl::StatusCode::kUnauthenticated) std::abort();
    return;
  }
  // Accepted: it must parse, carry our kid and verify under our key.
  auto jws = identity::ParseJws(token);
  if (!jws.ok() || claims->kid != "k1" || claims->issuer != "clawos-identity" ||
      claims->jti == "revoked" || claims->subject == "revoked" ||
      !crypto::Ed25519Verify(Key().public_key(), crypto::AsBytes(jws->signing_input),
                             jws->signature)) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  if ((data[0] & 1) == 0) {
    Check(rest);
    return 0;
  }
  size_t nl = rest.find('\n');
  if (nl == std::string::npos) return 0;
  auto header = nlohmann::json::parse(rest.substr(0, nl), nullptr, false);
  auto payload = nlohmann::json::parse(rest.substr(nl + 1), nullptr, false);
  if (header.is_discarded() || payload.is_discarded()) return 0;
  std::string input = identity::SigningInput(header, payload);
  auto sig = Key().Sign(crypto::AsBytes(input));
  if (!sig.ok()) return 0;
  Check(identity::CompactJws(input, std::vector<uint8_t>(sig->begin(), sig->end())));
  return 0;
}
