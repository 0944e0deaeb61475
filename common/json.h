// nlohmann::json without exceptions, for JSON that came from a guest or a
// client: a dump that cannot throw on invalid UTF-8 (it is replaced by
// U+FFFD), and typed reads that answer "absent" for a missing key, a value of
// another type, or a `j` that is not an object, where nlohmann's `value()`
// and `get()` would throw.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace clawos::json {

// j.dump(indent), invalid UTF-8 in strings replaced. Never throws.
std::string Dump(const nlohmann::json& j, int indent = -1);

// The member `key` of object `j`, or null (also when `j` is not an object).
const nlohmann::json* Member(const nlohmann::json& j, std::string_view key);

// The member as that type; nullopt when absent or of another type. Int takes
// only integers that fit int64 (not 1.5, not 1e30, not true).
std::optional<std::string> String(const nlohmann::json& j, std::string_view key);
std::optional<bool> Bool(const nlohmann::json& j, std::string_view key);
std::optional<int64_t> Int(const nlohmann::json& j, std::string_view key);

}  // namespace clawos::json
