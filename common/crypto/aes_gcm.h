// AES-256-GCM authenticated encryption with associated data.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/secret.h"

namespace clawos::crypto {

inline constexpr size_t kAesGcmKeySize = 32;
inline constexpr size_t kAesGcmNonceSize = 12;
inline constexpr size_t kAesGcmTagSize = 16;

// Seals with a fresh random 96-bit nonce. Output: nonce || ciphertext || tag.
absl::StatusOr<std::vector<uint8_t>> AesGcmSeal(std::span<const uint8_t> key,
                                                std::span<const uint8_t> plaintext,
                                                std::span<const uint8_t> aad);
// Opens the output of AesGcmSeal. Any change to key, nonce, ciphertext, tag or
// aad gives PERMISSION_DENIED ("authentication failed"), never partial output.
absl::StatusOr<SecretBytes> AesGcmOpen(std::span<const uint8_t> key,
                                       std::span<const uint8_t> sealed,
                                       std::span<const uint8_t> aad);

// Primitive forms with an explicit IV and tag (any IV length; tags 4..16 bytes),
// for test vectors. Seal returns ciphertext || tag.
absl::StatusOr<std::vector<uint8_t>> AesGcmEncrypt(std::span<const uint8_t> key,
                                                   std::span<const uint8_t> iv,
                                                   std::span<const uint8_t> plaintext,
                                                   std::span<const uint8_t> aad,
                                                   size_t tag_size = kAesGcmTagSize);
absl::StatusOr<SecretBytes> AesGcmDecrypt(std::span<const uint8_t> key, std::span<const uint8_t> iv,
                                          std::span<const uint8_t> ciphertext_and_tag,
                                          std::span<const uint8_t> aad,
                                          size_t tag_size = kAesGcmTagSize);

}  // namespace clawos::crypto
