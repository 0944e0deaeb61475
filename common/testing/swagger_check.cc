#include "common/testing/swagger_check.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace clawos::testing {
namespace {

bool PathMatches(const std::string& tmpl, const std::string& path) {
  std::vector<std::string> a = absl::StrSplit(tmpl, '/'), b = absl::StrSplit(path, '/');
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    bool param = !a[i].empty() && a[i].front() == '{' && a[i].back() == '}';
    if (param ? b[i].empty() : a[i] != b[i]) return false;
  }
  return true;
}

}  // namespace

const nlohmann::json& SwaggerSpec::Resolve(const nlohmann::json& schema) const {
  const nlohmann::json* s = &schema;
  for (int depth = 0; depth < 16 && s->is_object() && s->contains("$ref"); ++depth) {
    std::string ref = (*s)["$ref"];
    const std::string prefix = "#/definitions/";
    if (ref.rfind(prefix, 0) != 0 || !spec_["definitions"].contains(ref.substr(prefix.size()))) {
      static const nlohmann::json kNone = nlohmann::json::object();
      return kNone;
    }
    s = &spec_["definitions"][ref.substr(prefix.size())];
  }
  return *s;
}

absl::Status SwaggerSpec::Check(const nlohmann::json& raw, const nlohmann::json& v,
                                const std::string& where) const {
  const nlohmann::json& s = Resolve(raw);
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(where.empty() ? "body" : where, ": ", why));
  };
  std::string type = s.value("type", "");
  if (s.contains("enum") && std::find(s["enum"].begin(), s["enum"].end(), v) == s["enum"].end()) {
    return bad(absl::StrCat(v.dump(), " is not one of ", s["enum"].dump()));
  }
  if (type == "object") {
    if (!v.is_object()) return bad("not an object");
    for (const auto& r : s.value("required", nlohmann::json::array())) {
      if (!v.contains(r.get<std::string>()))
        return bad(absl::StrCat("missing required ", r.dump()));
    }
    const auto props = s.value("properties", nlohmann::json::object());
    for (const auto& [k, val] : v.items()) {
      if (!props.contains(k)) {
        if (s.contains("additionalProperties")) continue;
        return bad(absl::StrCat("unknown property \"", k, "\""));
      }
      if (auto st = Check(props[k], val, where.empty() ? k : where + "." + k); !st.ok()) return st;
    }
  } else if (type == "string") {
    if (!v.is_string()) return bad("not a string");
  } else if (type == "integer") {
    if (!v.is_number_integer()) return bad("not an integer");
    if (s.contains("minimum") && v.get<int64_t>() < s["minimum"].get<int64_t>())
      return bad(absl::StrCat("below the minimum ", s["minimum"].dump()));
    if (s.contains("maximum") && v.get<int64_t>() > s["maximum"].get<int64_t>())
      return bad(absl::StrCat("above the maximum ", s["maximum"].dump()));
  } else if (type == "number") {
    if (!v.is_number()) return bad("not a number");
  } else if (type == "boolean") {
    if (!v.is_boolean()) return bad("not a boolean");
  } else if (type == "array") {
    if (!v.is_array()) return bad("not an array");
    for (size_t i = 0; i < v.size(); ++i) {
      if (auto st = Check(s.value("items", nlohmann::json::object()), v[i],
                          absl::StrCat(where, "[", i, "]"));
          !st.ok())
        return st;
    }
  }
  return absl::OkStatus();
}

absl::Status SwaggerSpec::CheckRequest(const std::string& method, const std::string& path,
                                       const nlohmann::json& body) const {
  std::string m = method;
  std::transform(m.begin(), m.end(), m.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const auto& [tmpl, ops] : spec_["paths"].items()) {
    if (!PathMatches(tmpl, path) || !ops.contains(m)) continue;
    for (const auto& p : ops[m].value("parameters", nlohmann::json::array())) {
      if (p.value("in", "") != "body") continue;
      if (body.is_null()) {
        if (p.value("required", false)) return absl::InvalidArgumentError("the body is required");
        return absl::OkStatus();
      }
      return Check(p["schema"], body, "");
    }
    if (!body.is_null()) {
      return absl::InvalidArgumentError(absl::StrCat(method, " ", tmpl, " takes no body"));
    }
    return absl::OkStatus();
  }
  return absl::NotFoundError(absl::StrCat("the spec has no ", method, " ", path));
}

}  // namespace clawos::testing
