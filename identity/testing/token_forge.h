// Test helper: builds tokens of any shape, signed with Ed25519 or HMAC, so each
// verification rule can be broken on purpose.
#pragma once

#include <openssl/hmac.h>

#include <string>

#include <nlohmann/json.hpp>

#include "common/crypto/ed25519.h"
#include "common/crypto/encoding.h"
#include "identity/jws.h"

namespace clawos::identity::testing {

inline std::string SignEd25519(const crypto::Ed25519PrivateKey& key, const nlohmann::json& header,
                               const nlohmann::json& payload) {
  std::string input = SigningInput(header, payload);
  auto sig = key.Sign(crypto::AsBytes(input)).value();
  return CompactJws(input, std::vector<uint8_t>(sig.begin(), sig.end()));
}

inline std::string SignHs256(std::span<const uint8_t> secret, const nlohmann::json& header,
                             const nlohmann::json& payload) {
  std::string input = SigningInput(header, payload);
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return CompactJws(input, std::vector<uint8_t>(mac, mac + len));
}

}  // namespace clawos::identity::testing
