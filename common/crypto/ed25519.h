// Ed25519 (RFC 8032) keys, signatures and verification on OpenSSL 3.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/openssl_util.h"
#include "common/crypto/secret.h"

namespace clawos::crypto {

using Ed25519PublicKey = std::array<uint8_t, 32>;
using Ed25519Signature = std::array<uint8_t, 64>;

class Ed25519PrivateKey {
 public:
  static absl::StatusOr<Ed25519PrivateKey> Generate();
  // From the 32-byte RFC 8032 seed.
  static absl::StatusOr<Ed25519PrivateKey> FromSeed(std::span<const uint8_t> seed);

  const Ed25519PublicKey& public_key() const { return public_key_; }
  // The 32-byte seed; handle as a secret.
  SecretBytes Seed() const;
  absl::StatusOr<Ed25519Signature> Sign(std::span<const uint8_t> message) const;

 private:
  Ed25519PrivateKey(internal::PkeyPtr key, Ed25519PublicKey pub)
      : key_(std::move(key)), public_key_(pub) {}
  std::shared_ptr<EVP_PKEY> key_;
  Ed25519PublicKey public_key_;
};

// True only for a valid signature of `message` under `public_key`.
bool Ed25519Verify(std::span<const uint8_t> public_key, std::span<const uint8_t> message,
                   std::span<const uint8_t> signature);

}  // namespace clawos::crypto
