#include "common/crypto/ed25519.h"

#include <openssl/err.h>

#include "absl/strings/str_cat.h"

namespace clawos::crypto {

using internal::MdCtxPtr;
using internal::OpenSslError;
using internal::PkeyPtr;

namespace {

absl::StatusOr<Ed25519PublicKey> RawPublic(EVP_PKEY* key) {
  Ed25519PublicKey pub{};
  size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(key, pub.data(), &len) != 1 || len != pub.size()) {
    return OpenSslError("reading Ed25519 public key");
  }
  return pub;
}

}  // namespace

absl::StatusOr<Ed25519PrivateKey> Ed25519PrivateKey::Generate() {
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr)) {
    if (EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &raw) != 1) raw = nullptr;
    EVP_PKEY_CTX_free(ctx);
  }
  if (raw == nullptr) return OpenSslError("generating Ed25519 key");
  PkeyPtr key(raw);
  auto pub = RawPublic(key.get());
  if (!pub.ok()) return pub.status();
  return Ed25519PrivateKey(std::move(key), *pub);
}

absl::StatusOr<Ed25519PrivateKey> Ed25519PrivateKey::FromSeed(std::span<const uint8_t> seed) {
  if (seed.size() != 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("Ed25519 seed must be 32 bytes, got ", seed.size()));
  }
  PkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()));
  if (!key) return OpenSslError("loading Ed25519 private key");
  auto pub = RawPublic(key.get());
  if (!pub.ok()) return pub.status();
  return Ed25519PrivateKey(std::move(key), *pub);
}

SecretBytes Ed25519PrivateKey::Seed() const {
  std::vector<uint8_t> seed(32);
  size_t len = seed.size();
  EVP_PKEY_get_raw_private_key(key_.get(), seed.data(), &len);
  return SecretBytes(std::move(seed));
}

absl::StatusOr<Ed25519Signature> Ed25519PrivateKey::Sign(std::span<const uint8_t> message) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  Ed25519Signature sig{};
  size_t len = sig.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig.data(), &len, message.data(), message.size()) != 1 ||
      len != sig.size()) {
    return OpenSslError("Ed25519 signing");
  }
  return sig;
}

bool Ed25519Verify(std::span<const uint8_t> public_key, std::span<const uint8_t> message,
                   std::span<const uint8_t> signature) {
  if (public_key.size() != 32 || signature.size() != 64) return false;
  PkeyPtr key(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key.data(), public_key.size()));
  MdCtxPtr ctx(EVP_MD_CTX_new());
  bool ok = key && ctx &&
            EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) == 1 &&
            EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(),
                             message.size()) == 1;
  ERR_clear_error();
  return ok;
}

}  // namespace clawos::crypto
