// Test helper: an external identity provider's keys (RSA-2048, P-256, Ed25519)
// that sign ID tokens, and the JWKS that publishes them.
#pragma once

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include <string>

#include <nlohmann/json.hpp>

#include "common/crypto/encoding.h"
#include "identity/jws.h"

namespace clawos::identity::testing {

class IdpKey {
 public:
  // alg: "RS256", "ES256" or "EdDSA".
  IdpKey(std::string alg, std::string kid) : alg_(std::move(alg)), kid_(std::move(kid)) {
    if (alg_ == "RS256") key_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
    if (alg_ == "ES256") key_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    if (alg_ == "EdDSA") key_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  }
  ~IdpKey() { EVP_PKEY_free(key_); }
  IdpKey(const IdpKey&) = delete;

  nlohmann::json Jwk() const {
    nlohmann::json j = {{"kid", kid_}, {"alg", alg_}, {"use", "sig"}};
    if (alg_ == "RS256") {
      j["kty"] = "RSA";
      j["n"] = Bn(OSSL_PKEY_PARAM_RSA_N);
      j["e"] = Bn(OSSL_PKEY_PARAM_RSA_E);
    } else if (alg_ == "ES256") {
      unsigned char pt[65];
      size_t len = 0;
      EVP_PKEY_get_octet_string_param(key_, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &len);
      j["kty"] = "EC";
      j["crv"] = "P-256";
      j["x"] = crypto::Base64UrlEncode(std::span<const uint8_t>(pt + 1, 32));
      j["y"] = crypto::Base64UrlEncode(std::span<const uint8_t>(pt + 33, 32));
    } else {
      unsigned char pub[32];
      size_t len = 32;
      EVP_PKEY_get_raw_public_key(key_, pub, &len);
      j["kty"] = "OKP";
      j["crv"] = "Ed25519";
      j["x"] = crypto::Base64UrlEncode(std::span<const uint8_t>(pub, 32));
    }
    return j;
  }

  std::string Sign(nlohmann::json header, const nlohmann::json& payload) const {
    if (!header.contains("alg")) header["alg"] = alg_;
    if (!header.contains("kid")) header["kid"] = kid_;
    std::string input = SigningInput(header, payload);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit(ctx, nullptr, alg_ == "EdDSA" ? nullptr : EVP_sha256(), nullptr, key_);
    size_t len = 0;
    EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    std::vector<uint8_t> sig(len);
    EVP_DigestSign(ctx, sig.data(), &len, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
    if (alg_ == "ES256") sig = DerToRaw(sig);
    return CompactJws(input, sig);
  }

 private:
  std::string Bn(const char* name) const {
    BIGNUM* bn = nullptr;
    EVP_PKEY_get_bn_param(key_, name, &bn);
    std::vector<uint8_t> bytes(BN_num_bytes(bn));
    BN_bn2bin(bn, bytes.data());
    BN_free(bn);
    return crypto::Base64UrlEncode(bytes);
  }
  static std::vector<uint8_t> DerToRaw(const std::vector<uint8_t>& der) {
    const unsigned char* p = der.data();
    ECDSA_SIG* s = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
    std::vector<uint8_t> raw(64);
    BN_bn2binpad(ECDSA_SIG_get0_r(s), raw.data(), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(s), raw.data() + 32, 32);
    ECDSA_SIG_free(s);
    return raw;
  }
  std::string alg_;
  std::string kid_;
  EVP_PKEY* key_ = nullptr;
};

}  // namespace clawos::identity::testing
