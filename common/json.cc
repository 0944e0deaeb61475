#include "common/json.h"

#include <limits>

namespace clawos::json {

std::string Dump(const nlohmann::json& j, int indent) {
  try {
    return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (const std::exception&) {  // replace mode does not throw; bad_alloc might
    return "null";
  }
}

const nlohmann::json* Member(const nlohmann::json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

std::optional<std::string> String(const nlohmann::json& j, std::string_view key) {
  const nlohmann::json* m = Member(j, key);
  if (m == nullptr || !m->is_string()) return std::nullopt;
  return m->get_ref<const std::string&>();
}

std::optional<bool> Bool(const nlohmann::json& j, std::string_view key) {
  const nlohmann::json* m = Member(j, key);
  if (m == nullptr || !m->is_boolean()) return std::nullopt;
  return m->get<bool>();
}

std::optional<int64_t> Int(const nlohmann::json& j, std::string_view key) {
  const nlohmann::json* m = Member(j, key);
  if (m == nullptr) return std::nullopt;
  if (m->is_number_unsigned()) {
    uint64_t u = m->get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (m->is_number_integer()) return m->get<int64_t>();
  return std::nullopt;
}

}  // namespace clawos::json
