#include "common/crypto/aes_gcm.h"

#include <openssl/err.h>

#include "absl/strings/str_cat.h"
#include "common/crypto/openssl_util.h"
#include "common/crypto/random.h"

namespace clawos::crypto {

using internal::CipherCtxPtr;
using internal::OpenSslError;

namespace {

absl::Status CheckKey(std::span<const uint8_t> key) {
  if (key.size() != kAesGcmKeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("AES-256-GCM key must be 32 bytes, got ", key.size()));
  }
  return absl::OkStatus();
}

absl::Status CheckTag(size_t tag_size) {
  if (tag_size < 4 || tag_size > 16) {
    return absl::InvalidArgumentError(absl::StrCat("GCM tag size ", tag_size, " not in 4..16"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<uint8_t>> AesGcmEncrypt(std::span<const uint8_t> key,
                                                   std::span<const uint8_t> iv,
                                                   std::span<const uint8_t> plaintext,
                                                   std::span<const uint8_t> aad, size_t tag_size) {
  if (auto s = CheckKey(key); !s.ok()) return s;
  if (auto s = CheckTag(tag_size); !s.ok()) return s;
  if (iv.empty()) return absl::InvalidArgumentError("GCM IV must not be empty");
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  std::vector<uint8_t> out(plaintext.size() + tag_size);
  int len = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv.size()),
                          nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), iv.data()) != 1) {
    return OpenSslError("AES-GCM init");
  }
  if (!aad.empty() &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) {
    return OpenSslError("AES-GCM aad");
  }
  int total = 0;
  if (!plaintext.empty()) {
    if (EVP_EncryptUpdate(ctx.get(), out.data(), &len, plaintext.data(),
                          static_cast<int>(plaintext.size())) != 1) {
      return OpenSslError("AES-GCM encrypt");
    }
    total = len;
  }
  if (EVP_EncryptFinal_ex(ctx.get(), out.data() + total, &len) != 1) {
    return OpenSslError("AES-GCM final");
  }
  total += len;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag_size),
                          out.data() + total) != 1) {
    return OpenSslError("AES-GCM tag");
  }
  return out;
}

absl::StatusOr<SecretBytes> AesGcmDecrypt(std::span<const uint8_t> key, std::span<const uint8_t> iv,
                                          std::span<const uint8_t> ciphertext_and_tag,
                                          std::span<const uint8_t> aad, size_t tag_size) {
  if (auto s = CheckKey(key); !s.ok()) return s;
  if (auto s = CheckTag(tag_size); !s.ok()) return s;
  if (iv.empty()) return absl::InvalidArgumentError("GCM IV must not be empty");
  if (ciphertext_and_tag.size() < tag_size) {
    return absl::PermissionDeniedError("AES-GCM authentication failed: input shorter than tag");
  }
  size_t ct_len = ciphertext_and_tag.size() - tag_size;
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  std::vector<uint8_t> out(ct_len);
  int len = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv.size()),
                          nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), iv.data()) != 1) {
    return OpenSslError("AES-GCM init");
  }
  if (!aad.empty() &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) {
    return OpenSslError("AES-GCM aad");
  }
  int total = 0;
  if (ct_len > 0) {
    if (EVP_DecryptUpdate(ctx.get(), out.data(), &len, ciphertext_and_tag.data(),
                          static_cast<int>(ct_len)) != 1) {
      return OpenSslError("AES-GCM decrypt");
    }
    total = len;
  }
  std::vector<uint8_t> tag(ciphertext_and_tag.begin() + ct_len, ciphertext_and_tag.end());
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag_size),
                          tag.data()) != 1) {
    return OpenSslError("AES-GCM set tag");
  }
  if (EVP_DecryptFinal_ex(ctx.get(), out.data() + total, &len) != 1) {
    SecureZero(out.data(), out.size());
    ERR_clear_error();
    return absl::PermissionDeniedError("AES-GCM authentication failed");
  }
  return SecretBytes(std::move(out));
}

absl::StatusOr<std::vector<uint8_t>> AesGcmSeal(std::span<const uint8_t> key,
                                                std::span<const uint8_t> plaintext,
                                                std::span<const uint8_t> aad) {
  auto nonce = RandomBytes(kAesGcmNonceSize);
  if (!nonce.ok()) return nonce.status();
  auto ct = AesGcmEncrypt(key, *nonce, plaintext, aad);
  if (!ct.ok()) return ct.status();
  std::vector<uint8_t> out = std::move(*nonce);
  out.insert(out.end(), ct->begin(), ct->end());
  return out;
}

absl::StatusOr<SecretBytes> AesGcmOpen(std::span<const uint8_t> key,
                                       std::span<const uint8_t> sealed,
                                       std::span<const uint8_t> aad) {
  if (sealed.size() < kAesGcmNonceSize + kAesGcmTagSize) {
    return absl::PermissionDeniedError("AES-GCM authentication failed: sealed record too short");
  }
  return AesGcmDecrypt(key, sealed.first(kAesGcmNonceSize), sealed.subspan(kAesGcmNonceSize), aad);
}

}  // namespace clawos::crypto
