#include "common/crypto/secret.h"

#include <openssl/crypto.h>

namespace clawos::crypto {

void SecureZero(void* data, size_t size) { OPENSSL_cleanse(data, size); }

bool ConstantTimeEquals(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace clawos::crypto
