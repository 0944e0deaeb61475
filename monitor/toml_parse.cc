#include "monitor/toml_parse.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/utf8.h"

namespace clawos::monitor {
namespace {

// The characters toml++ 3.3.0's is_non_ascii_horizontal_whitespace is
// undefined for (its table's blocks 0, 11 and 63 without their three spaces).
struct Range {
  char32_t first, last;
};
constexpr Range kUndefined[] = {
    {0xA1, 0x499}, {0x2C5E, 0x2FFF}, {0x3001, 0x3057}, {0xFB26, 0xFEFE}};
constexpr char32_t kStandIn = 0xF0000;

bool Undefined(char32_t c) {
  return std::any_of(std::begin(kUndefined), std::end(kUndefined),
                     [c](const Range& r) { return c >= r.first && c <= r.last; });
}
bool IsStandIn(char32_t c) { return c >= kStandIn && Undefined(c - kStandIn); }

// The character at s[i] of well-formed UTF-8, and its length.
char32_t Decode(std::string_view s, size_t i, size_t* len) {
  unsigned char c = s[i];
  *len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  char32_t cp = *len == 1 ? c : c & (0x7F >> *len);
  for (size_t k = 1; k < *len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return cp;
}

void Encode(char32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

// Well-formed UTF-8 `s` with each character mapped by `f`; whether any changed.
template <typename F>
bool Map(std::string_view s, F f, std::string* out) {
  bool changed = false;
  out->clear();
  out->reserve(s.size());
  for (size_t i = 0, len = 0; i < s.size(); i += len) {
    char32_t c = Decode(s, i, &len);
    char32_t m = f(c);
    if (m == c) {
      out->append(s.substr(i, len));
    } else {
      Encode(m, out);
      changed = true;
    }
  }
  return changed;
}

std::string Restore(std::string_view s) {
  std::string out;
  Map(
      s, [](char32_t c) { return IsStandIn(c) ? c - kStandIn : c; }, &out);
  return out;
}

int LineAt(std::string_view text, size_t offset) {
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + offset, '\n'));
}

// Every key and string in `n` with its stand-ins turned back; sources kept.
void RestoreAll(toml::node& n) {
  if (toml::array* a = n.as_array()) {
    for (toml::node& v : *a) RestoreAll(v);
  } else if (toml::value<std::string>* s = n.as_string()) {
    s->get() = Restore(s->get());
  } else if (toml::table* t = n.as_table()) {
    std::vector<toml::key> renamed;
    for (auto&& [key, value] : *t) {
      RestoreAll(value);
      if (Restore(key.str()) != key.str()) renamed.push_back(key);
    }
    for (const toml::key& key : renamed) {  // moving a node keeps its source
      t->insert(toml::key(Restore(key.str()), key.source()), std::move(*t->get(key.str())));
      t->erase(key.str());
    }
  }
}

}  // namespace

absl::StatusOr<toml::table> ParseToml(std::string_view text, const std::string& origin) {
  if (size_t bad = FirstInvalidUtf8(text); bad != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrFormat("%s:%d: invalid UTF-8 at byte %d (0x%02x)",
                                                      origin, LineAt(text, bad), bad + 1,
                                                      static_cast<unsigned char>(text[bad])));
  }
  for (size_t i = 0, len = 0; i < text.size(); i += len) {
    char32_t c = Decode(text, i, &len);
    if (IsStandIn(c)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s:%d: U+%X at byte %d is a private-use character this reader keeps for itself", origin,
          LineAt(text, i), static_cast<uint32_t>(c), i + 1));
    }
  }
  std::string mapped;
  bool changed = Map(
      text, [](char32_t c) { return Undefined(c) ? c + kStandIn : c; }, &mapped);
  toml::table root;
  try {
    root = toml::parse(mapped, origin);
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ":", e.source().begin.line, ": ", Restore(e.description())));
  }
  if (changed) RestoreAll(root);
  return root;
}

}  // namespace clawos::monitor
