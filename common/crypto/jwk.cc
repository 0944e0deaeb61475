#include "common/crypto/jwk.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include "absl/strings/str_cat.h"
#include "common/crypto/encoding.h"
#include "common/crypto/sha256.h"
#include "common/json.h"

namespace clawos::crypto {
namespace {

absl::Status Bad(const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("unusable JWK: ", why));
}

absl::StatusOr<std::vector<uint8_t>> Member(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) return Bad(absl::StrCat("missing \"", name, "\""));
  auto v = Base64UrlDecode(it->get<std::string>());
  if (!v.ok() || v->empty()) return Bad(absl::StrCat("\"", name, "\" is not base64url"));
  return v;
}

using internal::BnPtr;
using internal::ParamBldPtr;
using internal::ParamPtr;
using internal::PkeyCtxPtr;

absl::StatusOr<EVP_PKEY*> FromData(const char* type, OSSL_PARAM_BLD* bld) {
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    ERR_clear_error();
    return Bad(absl::StrCat("OpenSSL rejected the ", type, " key parameters"));
  }
  return key;
}

}  // namespace

std::string Ed25519Thumbprint(std::span<const uint8_t> pub) {
  // Members in lexicographic order, no whitespace (RFC 7638 §3).
  std::string canonical =
      absl::StrCat(R"({"crv":"Ed25519","kty":"OKP","x":")", Base64UrlEncode(pub), R"("})");
  return Base64UrlEncode(Sha256Of(canonical));
}

absl::StatusOr<JwkPublicKey> JwkPublicKey::FromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Bad("not a JSON object");
  JwkPublicKey out;
  if (auto kid = j.find("kid"); kid != j.end() && kid->is_string()) out.kid_ = *kid;
  auto kty_it = j.find("kty");
  if (kty_it == j.end() || !kty_it->is_string()) return Bad("missing \"kty\"");
  std::string kty = *kty_it;
  EVP_PKEY* raw = nullptr;
  if (kty == "RSA") {
    auto n = Member(j, "n");
    if (!n.ok()) return n.status();
    auto e = Member(j, "e");
    if (!e.ok()) return e.status();
    BnPtr bn_n(BN_bin2bn(n->data(), static_cast<int>(n->size()), nullptr));
    BnPtr bn_e(BN_bin2bn(e->data(), static_cast<int>(e->size()), nullptr));
    if (BN_num_bits(bn_n.get()) < 2048) return Bad("RSA keys under 2048 bits are refused");
    ParamBldPtr bld(OSSL_PARAM_BLD_new());
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get());
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get());
    auto k = FromData("RSA", bld.get());
    if (!k.ok()) return k.status();
    raw = *k;
    out.alg_ = "RS256";
  } else if (kty == "EC") {
    if (json::String(j, "crv").value_or("") != "P-256")
      return Bad("only EC curve P-256 is accepted");
    auto x = Member(j, "x");
    if (!x.ok()) return x.status();
    auto y = Member(j, "y");
    if (!y.ok()) return y.status();
    if (x->size() != 32 || y->size() != 32) return Bad("P-256 coordinates must be 32 bytes");
    std::vector<uint8_t> point = {0x04};
    point.insert(point.end(), x->begin(), x->end());
    point.insert(point.end(), y->begin(), y->end());
    ParamBldPtr bld(OSSL_PARAM_BLD_new());
    OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
    OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                     point.size());
    auto k = FromData("EC", bld.get());
    if (!k.ok()) return k.status();
    raw = *k;
    out.alg_ = "ES256";
  } else if (kty == "OKP") {
    if (json::String(j, "crv").value_or("") != "Ed25519")
      return Bad("only OKP curve Ed25519 is accepted");
    auto x = Member(j, "x");
    if (!x.ok()) return x.status();
    if (x->size() != 32) return Bad("Ed25519 public key must be 32 bytes");
    raw = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, x->data(), x->size());
    if (!raw) return Bad("OpenSSL rejected the Ed25519 key");
    out.alg_ = "EdDSA";
  } else {
    return Bad(absl::StrCat("key type \"", kty.substr(0, 16), "\" is not supported"));
  }
  out.key_ = std::shared_ptr<EVP_PKEY>(raw, EVP_PKEY_free);
  if (auto alg = j.find("alg"); alg != j.end() && (!alg->is_string() || *alg != out.alg_)) {
    return Bad(absl::StrCat("\"alg\" does not match a ", kty, " key (expected ", out.alg_, ")"));
  }
  if (auto use = j.find("use"); use != j.end() && (!use->is_string() || *use != "sig")) {
    return Bad("\"use\" is not \"sig\"");
  }
  return out;
}

bool JwkPublicKey::Verify(std::span<const uint8_t> input, std::span<const uint8_t> sig) const {
  if (!key_) return false;
  internal::MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return false;
  std::vector<uint8_t> der;
  std::span<const uint8_t> s = sig;
  const EVP_MD* md = EVP_sha256();
  if (alg_ == "EdDSA") {
    md = nullptr;
  } else if (alg_ == "ES256") {
    if (sig.size() != 64) return false;
    ECDSA_SIG* es = ECDSA_SIG_new();
    BIGNUM* r = BN_bin2bn(sig.data(), 32, nullptr);
    BIGNUM* sv = BN_bin2bn(sig.data() + 32, 32, nullptr);
    ECDSA_SIG_set0(es, r, sv);
    unsigned char* buf = nullptr;
    int len = i2d_ECDSA_SIG(es, &buf);
    ECDSA_SIG_free(es);
    if (len <= 0) return false;
    der.assign(buf, buf + len);
    OPENSSL_free(buf);
    s = der;
  }
  bool ok = EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key_.get()) == 1 &&
            EVP_DigestVerify(ctx.get(), s.data(), s.size(), input.data(), input.size()) == 1;
  ERR_clear_error();
  return ok;
}

}  // namespace clawos::crypto
