#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/crypto/openssl_util.h"

namespace clawos::crypto {

using Sha256Digest = std::array<uint8_t, 32>;

// Streaming SHA-256.
class Sha256 {
 public:
  Sha256();
  void Update(std::span<const uint8_t> data);
  void Update(std::string_view data);
  // Finishes the hash; the object is reset and can be reused.
  Sha256Digest Final();

 private:
  internal::MdCtxPtr ctx_;
};

Sha256Digest Sha256Of(std::span<const uint8_t> data);
Sha256Digest Sha256Of(std::string_view data);
// Hashes a file in 1 MiB reads. NOT_FOUND / PERMISSION_DENIED etc. from the OS.
absl::StatusOr<Sha256Digest> Sha256File(const std::string& path);

}  // namespace clawos::crypto
