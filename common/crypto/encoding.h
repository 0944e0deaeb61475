// base64url (RFC 4648 §5, no padding) and hex.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace clawos::crypto {

std::string Base64UrlEncode(std::span<const uint8_t> data);
std::string Base64UrlEncode(std::string_view data);
// Strict: rejects padding, characters outside the url alphabet, impossible
// lengths, and non-zero trailing bits (so every input has one decoding).
absl::StatusOr<std::vector<uint8_t>> Base64UrlDecode(std::string_view text);

std::string HexEncode(std::span<const uint8_t> data);
// Accepts upper and lower case; rejects odd lengths and non-hex characters.
absl::StatusOr<std::vector<uint8_t>> HexDecode(std::string_view text);

inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string AsString(std::span<const uint8_t> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

}  // namespace clawos::crypto
