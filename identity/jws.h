// Compact JWS (RFC 7515) parsing and encoding. Parsing checks only the form:
// size limit, three base64url parts, JSON-object header and payload. What the
// header and claims must say is token_verifier.h's job.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace clawos::identity {

inline constexpr size_t kMaxTokenBytes = 8192;

struct ParsedJws {
  nlohmann::json header;      // a JSON object
  nlohmann::json payload;     // a JSON object
  std::string signing_input;  // "<b64 header>.<b64 payload>", what the signature covers
  std::vector<uint8_t> signature;
};

// UNAUTHENTICATED with the reason on any malformed input.
absl::StatusOr<ParsedJws> ParseJws(std::string_view token, size_t max_bytes = kMaxTokenBytes);

// An RFC 7519 NumericDate: a non-negative integer count of seconds. Floats,
// strings, negatives and values past year ~292e9 give nullopt.
std::optional<absl::Time> NumericDate(const nlohmann::json& value);

// The subject/audience grammar of ClawOS tokens: 1-256 printable ASCII
// characters, no spaces. INVALID_ARGUMENT naming `what` otherwise.
absl::Status ValidateName(const std::string& what, const std::string& value);

// "<b64url(header)>.<b64url(payload)>" — the input to sign.
std::string SigningInput(const nlohmann::json& header, const nlohmann::json& payload);
// signing_input + "." + b64url(signature).
std::string CompactJws(const std::string& signing_input, const std::vector<uint8_t>& signature);

}  // namespace clawos::identity
