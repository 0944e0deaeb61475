// Public keys from JWKs (RFC 7517/7518/8037) and JWS signature verification
// for RS256 (RSA ≥ 2048 bits), ES256 (P-256) and EdDSA (Ed25519). The JWS
// algorithm is derived from the key type, so a token cannot pick a weaker one.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "common/crypto/openssl_util.h"

namespace clawos::crypto {

// RFC 7638 thumbprint of an OKP/Ed25519 public key, base64url: used as its kid.
std::string Ed25519Thumbprint(std::span<const uint8_t> public_key);

class JwkPublicKey {
 public:
  // INVALID_ARGUMENT naming what is wrong with the JWK.
  static absl::StatusOr<JwkPublicKey> FromJson(const nlohmann::json& jwk);

  const std::string& kid() const { return kid_; }
  // "RS256", "ES256" or "EdDSA".
  const std::string& alg() const { return alg_; }
  // True only for a valid JWS signature (ES256: the 64-byte r||s form).
  bool Verify(std::span<const uint8_t> signing_input, std::span<const uint8_t> signature) const;

 private:
  std::string kid_;
  std::string alg_;
  std::shared_ptr<EVP_PKEY> key_;
};

}  // namespace clawos::crypto
