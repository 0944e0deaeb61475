#include "identity/token_verifier.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "identity/testing/token_forge.h"

namespace clawos::identity {
namespace {

using nlohmann::json;
using testing::SignEd25519;

constexpr char kIssuer[] = "clawos-identity";
constexpr char kAud[] = "clawos-inference-proxy";

class TokenVerifierTest : public ::testing::Test {
 protected:
  TokenVerifierTest()
      : key_(crypto::Ed25519PrivateKey::FromSeed(std::vector<uint8_t>(32, 7)).value()),
        other_(crypto::Ed25519PrivateKey::FromSeed(std::vector<uint8_t>(32, 9)).value()) {
    keys_["k1"] = key_.public_key();
    VerifierDeps deps{[this](const std::string& kid) -> std::optional<crypto::Ed25519PublicKey> {
                        auto it = keys_.find(kid);
                        if (it == keys_.end()) return std::nullopt;
                        return it->second;
                      },
                      [this](const std::string& jti) { return revoked_jti_.count(jti) > 0; },
                      [this](const std::string& sub, absl::Time iat) {
                        auto it = revoked_sub_.find(sub);
                        return it != revoked_sub_.end() && iat <= it->second;
                      }};
    verifier_ = std::make_unique<TokenVerifier>(
        VerifierConfig{kIssuer, absl::Seconds(30), kMaxTokenBytes}, deps, clock_);
  }

  int64_t now() const { return absl::ToUnixSeconds(clock_.Now()); }
  json Header() const { return {{"alg", "EdDSA"}, {"typ", "JWT"}, {"kid", "k1"}}; }
  json Payload() const {
    return {{"iss", kIssuer}, {"sub", "agents/a1"}, {"aud", kAud},    {"iat", now()},
            {"nbf", now()},   {"exp", now() + 600}, {"jti", "jti-1"}, {"role", "agent"}};
  }
  std::string Sign(const json& h, const json& p) const { return SignEd25519(key_, h, p); }
  absl::Status Check(const std::string& token) const {
    return verifier_->Verify(token, kAud).status();
  }
  void ExpectRejected(const std::string& token, const std::string& reason_part) const {
    auto s = Check(token);
    EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << s;
    EXPECT_NE(s.message().find(reason_part), std::string::npos)
        << "message \"" << s.message() << "\" lacks \"" << reason_part << "\"";
  }

  ManualClock clock_;
  crypto::Ed25519PrivateKey key_;
  crypto::Ed25519PrivateKey other_;
  std::map<std::string, crypto::Ed25519PublicKey> keys_;
  std::set<std::string> revoked_jti_;
  std::map<std::string, absl::Time> revoked_sub_;
  std::unique_ptr<TokenVerifier> verifier_;
};

TEST_F(TokenVerifierTest, AcceptsAWellFormedToken) {
  auto c = verifier_->Verify(Sign(Header(), Payload()), kAud);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->subject, "agents/a1");
  EXPECT_EQ(c->jti, "jti-1");
  EXPECT_EQ(c->kid, "k1");
  EXPECT_EQ(c->role, "agent");
  EXPECT_EQ(c->expires_at, absl::FromUnixSeconds(now() + 600));
}

TEST_F(TokenVerifierTest, AcceptsAudienceArrayContainingOurs) {
  json p = Payload();
  p["aud"] = json::array({"other", kAud});
  EXPECT_TRUE(Check(Sign(Header(), p)).ok());
}

TEST_F(TokenVerifierTest, RejectsAlgNone) {
  json h = Header();
  h["alg"] = "none";
  std::string unsigned_token = SigningInput(h, Payload()) + ".";
  EXPECT_EQ(Check(unsigned_token).code(), absl::StatusCode::kUnauthenticated);
  // Even with a (meaningless) signature part present.
  ExpectRejected(Sign(h, Payload()), "not accepted");
}

TEST_F(TokenVerifierTest, RejectsHs256KeyedWithOurPublicKey) {
  json h = Header();
  h["alg"] = "HS256";
  ExpectRejected(testing::SignHs256(key_.public_key(), h, Payload()), "\"HS256\" is not accepted");
}

TEST_F(TokenVerifierTest, RejectsRs256) {
  json h = Header();
  h["alg"] = "RS256";
  ExpectRejected(Sign(h, Payload()), "not accepted");
}

TEST_F(TokenVerifierTest, RejectsUnknownKid) {
  json h = Header();
  h["kid"] = "not-ours";
  ExpectRejected(Sign(h, Payload()), "unknown signing key");
}

TEST_F(TokenVerifierTest, RejectsMissingKid) {
  json h = Header();
  h.erase("kid");
  ExpectRejected(Sign(h, Payload()), "kid");
}

TEST_F(TokenVerifierTest, RejectsKeyEmbeddedInHeader) {
  json h = Header();
  h["jwk"] = {
      {"kty", "OKP"}, {"crv", "Ed25519"}, {"x", crypto::Base64UrlEncode(other_.public_key())}};
  ExpectRejected(SignEd25519(other_, h, Payload()), "\"jwk\"");
  json h2 = Header();
  h2["jku"] = "https://attacker.example/jwks.json";
  ExpectRejected(Sign(h2, Payload()), "\"jku\"");
}

TEST_F(TokenVerifierTest, RejectsWrongTyp) {
  json h = Header();
  h["typ"] = "at+jwt";
  ExpectRejected(Sign(h, Payload()), "typ");
  h.erase("typ");
  ExpectRejected(Sign(h, Payload()), "typ");
}

TEST_F(TokenVerifierTest, RejectsSignatureByAnotherKey) {
  ExpectRejected(SignEd25519(other_, Header(), Payload()), "signature does not verify");
}

TEST_F(TokenVerifierTest, RejectsExpired) {
  json p = Payload();
  p["exp"] = now() - 31;  // beyond the 30 s leeway
  ExpectRejected(Sign(Header(), p), "expired");
}

TEST_F(TokenVerifierTest, ExpiryLeewayIsBounded) {
  json p = Payload();
  p["exp"] = now() - 10;  // within leeway
  EXPECT_TRUE(Check(Sign(Header(), p)).ok());
  clock_.Advance(absl::Seconds(21));
  ExpectRejected(Sign(Header(), p), "expired");
}

TEST_F(TokenVerifierTest, RejectsNotYetValid) {
  json p = Payload();
  p["nbf"] = now() + 120;
  ExpectRejected(Sign(Header(), p), "not valid before");
}

TEST_F(TokenVerifierTest, RejectsIssuedInTheFuture) {
  json p = Payload();
  p["iat"] = now() + 3600;
  ExpectRejected(Sign(Header(), p), "future");
}

TEST_F(TokenVerifierTest, RejectsWrongAudience) {
  json p = Payload();
  p["aud"] = "clawos-controlplane";
  ExpectRejected(Sign(Header(), p), "audience");
  p["aud"] = json::array({"a", "b"});
  ExpectRejected(Sign(Header(), p), "audience");
}

TEST_F(TokenVerifierTest, RequiresAnExpectedAudience) {
  EXPECT_EQ(verifier_->Verify(Sign(Header(), Payload()), "").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TokenVerifierTest, RejectsWrongIssuer) {
  json p = Payload();
  p["iss"] = "evil-issuer";
  ExpectRejected(Sign(Header(), p), "issuer");
}

TEST_F(TokenVerifierTest, RejectsMissingClaims) {
  for (const char* claim : {"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}) {
    json p = Payload();
    p.erase(claim);
    ExpectRejected(Sign(Header(), p), claim);
  }
}

TEST_F(TokenVerifierTest, RejectsNonIntegerTimes) {
  json p = Payload();
  p["exp"] = "tomorrow";
  ExpectRejected(Sign(Header(), p), "exp");
  p = Payload();
  p["exp"] = 1.5e12;
  ExpectRejected(Sign(Header(), p), "exp");
}

TEST_F(TokenVerifierTest, RejectsTamperedHeader) {
  std::string t = Sign(Header(), Payload());
  json h = Header();
  h["kid"] = "k1";
  h["x"] = 1;  // any change to the header changes the signing input
  std::string forged = crypto::Base64UrlEncode(std::string_view(h.dump())) + t.substr(t.find('.'));
  ExpectRejected(forged, "signature does not verify");
}

TEST_F(TokenVerifierTest, RejectsTamperedPayload) {
  std::string t = Sign(Header(), Payload());
  json p = Payload();
  p["sub"] = "agents/admin";
  size_t a = t.find('.'), b = t.rfind('.');
  std::string forged =
      t.substr(0, a + 1) + crypto::Base64UrlEncode(std::string_view(p.dump())) + t.substr(b);
  ExpectRejected(forged, "signature does not verify");
}

TEST_F(TokenVerifierTest, RejectsTamperedSignature) {
  std::string t = Sign(Header(), Payload());
  auto sig = crypto::Base64UrlDecode(t.substr(t.rfind('.') + 1)).value();
  sig[10] ^= 1;
  ExpectRejected(t.substr(0, t.rfind('.') + 1) + crypto::Base64UrlEncode(sig),
                 "signature does not verify");
  sig.pop_back();
  ExpectRejected(t.substr(0, t.rfind('.') + 1) + crypto::Base64UrlEncode(sig), "64 bytes");
}

TEST_F(TokenVerifierTest, RejectsBadBase64) {
  std::string t = Sign(Header(), Payload());
  std::string bad = t;
  bad[3] = '+';  // standard-alphabet character inside the header
  ExpectRejected(bad, "base64url");
  ExpectRejected(t + "==", "base64url");
}

TEST_F(TokenVerifierTest, RejectsOversized) {
  json p = Payload();
  p["pad"] = std::string(9000, 'x');
  ExpectRejected(Sign(Header(), p), "limit");
}

TEST_F(TokenVerifierTest, RejectsRevokedJti) {
  std::string t = Sign(Header(), Payload());
  ASSERT_TRUE(Check(t).ok());
  revoked_jti_.insert("jti-1");
  ExpectRejected(t, "revoked");
}

TEST_F(TokenVerifierTest, RejectsRevokedSubjectOnlyForEarlierTokens) {
  std::string old_token = Sign(Header(), Payload());
  revoked_sub_["agents/a1"] = clock_.Now();
  ExpectRejected(old_token, "revoked");
  clock_.Advance(absl::Seconds(5));
  EXPECT_TRUE(Check(Sign(Header(), Payload())).ok()) << "a token issued after the revocation";
}

}  // namespace
}  // namespace clawos::identity
