#include "common/rest/path_template.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace clawos::rest {
namespace {

bool ValidFieldPath(absl::string_view p) {
  if (p.empty()) return false;
  for (absl::string_view part : absl::StrSplit(p, '.')) {
    if (part.empty() || absl::ascii_isdigit(static_cast<unsigned char>(part[0]))) return false;
    for (char c : part) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
    }
  }
  return true;
}

bool ValidLiteral(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c == '/' || c == '{' || c == '}' || c == '*' || c == ':' || c == '=' ||
        static_cast<unsigned char>(c) <= ' ') {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string PercentEncode(absl::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

bool ValidPathValue(absl::string_view v) {
  if (v.empty() || v.size() > 128) return false;
  for (char c : v) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

absl::StatusOr<PathTemplate> PathTemplate::Parse(absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("path template \"", text, "\": ", why));
  };
  if (text.empty() || text[0] != '/') return bad("does not start with /");
  PathTemplate t;
  t.text_ = std::string(text);
  absl::string_view rest = text.substr(1);
  // The verb: a ':' after the last '/' and outside braces.
  size_t last_slash = rest.rfind('/');
  size_t colon = rest.rfind(':');
  size_t close = rest.rfind('}');
  if (colon != absl::string_view::npos &&
      (last_slash == absl::string_view::npos || colon > last_slash) &&
      (close == absl::string_view::npos || colon > close)) {
    t.verb_ = std::string(rest.substr(colon + 1));
    if (!ValidLiteral(t.verb_)) return bad("the verb is not a literal");
    rest = rest.substr(0, colon);
  }
  bool in_var = false;
  Variable var;
  size_t i = 0;
  while (i <= rest.size()) {
    size_t end = rest.find('/', i);
    if (end == absl::string_view::npos) end = rest.size();
    absl::string_view seg = rest.substr(i, end - i);
    if (!in_var && !seg.empty() && seg[0] == '{') {
      seg.remove_prefix(1);
      size_t eq = seg.find('=');
      bool closes = !seg.empty() && seg.back() == '}';
      absl::string_view field = seg.substr(0, std::min(eq, seg.size() - (closes ? 1 : 0)));
      if (!ValidFieldPath(field)) return bad(absl::StrCat("bad field path \"", field, "\""));
      var = Variable{std::string(field), t.segments_.size(), 0};
      if (eq == absl::string_view::npos) {
        if (!closes) return bad("a variable without '=' must be one segment");
        t.segments_.push_back({Kind::kStar, ""});
        var.last = t.segments_.size();
        t.variables_.push_back(var);
        i = end + 1;
        continue;
      }
      seg = seg.substr(eq + 1);
      in_var = true;
    }
    bool closes_var = false;
    if (in_var && !seg.empty() && seg.back() == '}') {
      seg.remove_suffix(1);
      closes_var = true;
    }
    if (seg == "*") {
      t.segments_.push_back({Kind::kStar, ""});
    } else if (seg == "**") {
      t.segments_.push_back({Kind::kDoubleStar, ""});
    } else if (ValidLiteral(seg)) {
      t.segments_.push_back({Kind::kLiteral, std::string(seg)});
    } else {
      return bad(absl::StrCat("bad segment \"", seg, "\""));
    }
    if (closes_var) {
      var.last = t.segments_.size();
      t.variables_.push_back(var);
      in_var = false;
    }
    i = end + 1;
  }
  if (in_var) return bad("a variable is not closed");
  for (size_t k = 0; k + 1 < t.segments_.size(); ++k) {
    if (t.segments_[k].kind == Kind::kDoubleStar) return bad("** must be the last segment");
  }
  return t;
}

std::optional<PathTemplate::Bindings> PathTemplate::Match(absl::string_view path) const {
  if (path.empty() || path[0] != '/') return std::nullopt;
  absl::string_view rest = path.substr(1);
  if (!verb_.empty()) {
    std::string suffix = ":" + verb_;
    if (rest.size() <= suffix.size() || rest.substr(rest.size() - suffix.size()) != suffix) {
      return std::nullopt;
    }
    rest.remove_suffix(suffix.size());
  }
  std::vector<absl::string_view> got = absl::StrSplit(rest, '/');
  const bool tail = !segments_.empty() && segments_.back().kind == Kind::kDoubleStar;
  const size_t fixed = tail ? segments_.size() - 1 : segments_.size();
  if (tail ? got.size() < fixed + 1 : got.size() != fixed) return std::nullopt;
  for (size_t k = 0; k < got.size(); ++k) {
    const Segment& s = segments_[std::min(k, segments_.size() - 1)];
    if (s.kind == Kind::kLiteral ? got[k] != s.literal : !ValidPathValue(got[k])) {
      return std::nullopt;
    }
  }
  Bindings out;
  for (const Variable& v : variables_) {
    size_t last = (tail && v.last == segments_.size()) ? got.size() : v.last;
    std::vector<absl::string_view> parts(got.begin() + v.first, got.begin() + last);
    out.emplace_back(v.field_path, absl::StrJoin(parts, "/"));
  }
  return out;
}

absl::StatusOr<std::string> PathTemplate::Expand(const Bindings& values) const {
  std::vector<std::string> segs(segments_.size());
  std::vector<bool> bound(segments_.size(), false);
  for (const Variable& v : variables_) {
    const std::string* value = nullptr;
    for (const auto& [f, val] : values) {
      if (f == v.field_path) value = &val;
    }
    if (!value || value->empty()) {
      return absl::InvalidArgumentError(absl::StrCat(v.field_path, " is required"));
    }
    std::vector<absl::string_view> parts = absl::StrSplit(*value, '/');
    const bool tail = v.last == segments_.size() && segments_.back().kind == Kind::kDoubleStar;
    const size_t want = v.last - v.first;
    bool fits = tail ? parts.size() >= want : parts.size() == want;
    for (size_t k = 0; fits && k < parts.size(); ++k) {
      const Segment& s = segments_[std::min(v.first + k, v.last - 1)];
      fits = s.kind == Kind::kLiteral ? parts[k] == s.literal : ValidPathValue(parts[k]);
    }
    if (!fits) {
      return absl::InvalidArgumentError(
          absl::StrCat(v.field_path, " \"", *value, "\" does not fit ", text_));
    }
    for (size_t k = 0; k < want; ++k) {
      bound[v.first + k] = true;
      if (tail && k == want - 1) {
        std::vector<std::string> rest;
        for (size_t r = k; r < parts.size(); ++r) rest.push_back(PercentEncode(parts[r]));
        segs[v.first + k] = absl::StrJoin(rest, "/");
      } else {
        segs[v.first + k] = PercentEncode(parts[k]);
      }
    }
  }
  for (size_t k = 0; k < segments_.size(); ++k) {
    if (bound[k]) continue;
    if (segments_[k].kind != Kind::kLiteral) {
      return absl::InvalidArgumentError(absl::StrCat(text_, " has a wildcard outside a variable"));
    }
    segs[k] = segments_[k].literal;
  }
  std::string out = "/" + absl::StrJoin(segs, "/");
  if (!verb_.empty()) absl::StrAppend(&out, ":", verb_);
  return out;
}

bool PathTemplate::MoreSpecificThan(const PathTemplate& other) const {
  auto rank = [](Kind k) { return k == Kind::kLiteral ? 2 : k == Kind::kStar ? 1 : 0; };
  size_t n = std::min(segments_.size(), other.segments_.size());
  for (size_t k = 0; k < n; ++k) {
    int a = rank(segments_[k].kind), b = rank(other.segments_[k].kind);
    if (a != b) return a > b;
  }
  if (segments_.size() != other.segments_.size()) {
    return segments_.size() > other.segments_.size();
  }
  return !verb_.empty() && other.verb_.empty();
}

std::string PathTemplate::OpenApiPath(
    std::vector<std::pair<std::string, const Variable*>>* params) const {
  std::vector<std::string> segs;
  for (size_t k = 0; k < segments_.size(); ++k) {
    const Variable* owner = nullptr;
    for (const Variable& v : variables_) {
      if (k >= v.first && k < v.last) owner = &v;
    }
    if (segments_[k].kind == Kind::kLiteral) {
      segs.push_back(segments_[k].literal);
      continue;
    }
    // Named after the field (its last part: "limit.name" is {name}), so that
    // two bindings of one path agree on it.
    std::string name =
        owner ? owner->field_path.substr(owner->field_path.rfind('.') + 1) : "segment";
    int seen = 0;
    for (const auto& [p, v] : *params) {
      if (v == owner) ++seen;
    }
    if (seen > 0) absl::StrAppend(&name, "_", seen + 1);
    params->emplace_back(name, owner);
    segs.push_back(absl::StrCat("{", name, "}"));
  }
  std::string out = "/" + absl::StrJoin(segs, "/");
  if (!verb_.empty()) absl::StrAppend(&out, ":", verb_);
  return out;
}

}  // namespace clawos::rest
