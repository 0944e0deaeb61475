#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace clawos::crypto {

// Bytes from OpenSSL's CSPRNG. Fails only if the RNG cannot be seeded.
absl::StatusOr<std::vector<uint8_t>> RandomBytes(size_t n);
// A random identifier: `bytes` random bytes, base64url without padding.
absl::StatusOr<std::string> RandomId(size_t bytes = 16);

}  // namespace clawos::crypto
