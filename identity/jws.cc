#include "identity/jws.h"

#include "absl/strings/str_cat.h"
#include "common/crypto/encoding.h"

namespace clawos::identity {
namespace {

absl::Status Reject(const std::string& why) {
  return absl::UnauthenticatedError(absl::StrCat("malformed token: ", why));
}

absl::StatusOr<nlohmann::json> DecodeObject(std::string_view part, const char* what) {
  auto raw = crypto::Base64UrlDecode(part);
  if (!raw.ok()) return Reject(absl::StrCat(what, " is not base64url"));
  auto json = nlohmann::json::parse(raw->begin(), raw->end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return Reject(absl::StrCat(what, " is not JSON"));
  if (!json.is_object()) return Reject(absl::StrCat(what, " is not a JSON object"));
  return json;
}

}  // namespace

absl::StatusOr<ParsedJws> ParseJws(std::string_view token, size_t max_bytes) {
  if (token.empty()) return Reject("empty");
  if (token.size() > max_bytes) {
    return Reject(absl::StrCat("token is ", token.size(), " bytes; the limit is ", max_bytes));
  }
  size_t a = token.find('.');
  size_t b = a == std::string_view::npos ? a : token.find('.', a + 1);
  if (b == std::string_view::npos || token.find('.', b + 1) != std::string_view::npos) {
    return Reject("a compact JWS has exactly three dot-separated parts");
  }
  std::string_view h = token.substr(0, a), p = token.substr(a + 1, b - a - 1),
                   s = token.substr(b + 1);
  if (h.empty() || p.empty() || s.empty()) return Reject("empty header, payload or signature");
  ParsedJws out;
  auto header = DecodeObject(h, "header");
  if (!header.ok()) return header.status();
  auto payload = DecodeObject(p, "payload");
  if (!payload.ok()) return payload.status();
  auto sig = crypto::Base64UrlDecode(s);
  if (!sig.ok()) return Reject("signature is not base64url");
  out.header = std::move(*header);
  out.payload = std::move(*payload);
  out.signing_input = std::string(token.substr(0, b));
  out.signature = std::move(*sig);
  return out;
}

std::optional<absl::Time> NumericDate(const nlohmann::json& v) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX / 2)) return std::nullopt;
    return absl::FromUnixSeconds(static_cast<int64_t>(u));
  }
  if (v.is_number_integer()) {
    int64_t i = v.get<int64_t>();
    if (i < 0) return std::nullopt;
    return absl::FromUnixSeconds(i);
  }
  return std::nullopt;
}

std::string SigningInput(const nlohmann::json& header, const nlohmann::json& payload) {
  return absl::StrCat(crypto::Base64UrlEncode(header.dump()), ".",
                      crypto::Base64UrlEncode(payload.dump()));
}

std::string CompactJws(const std::string& signing_input, const std::vector<uint8_t>& signature) {
  return absl::StrCat(signing_input, ".", crypto::Base64UrlEncode(signature));
}

absl::Status ValidateName(const std::string& what, const std::string& value) {
  if (value.empty() || value.size() > 256) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be 1-256 characters"));
  }
  for (char c : value) {
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " may only hold printable ASCII without spaces"));
    }
  }
  return absl::OkStatus();
}

}  // namespace clawos::identity
