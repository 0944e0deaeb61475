#include "common/http/query.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace clawos::http {
namespace {

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The escape is quoted only when it is printable ASCII: the target's bytes
// may be anything, and the message goes into JSON and logs.
absl::Status BadEscape(std::string_view s, size_t at) {
  std::string_view esc = s.substr(at, 3);
  bool printable = true;
  for (char c : esc) printable = printable && c > 0x20 && c < 0x7f;
  if (printable)
    return absl::InvalidArgumentError(absl::StrCat("bad %-escape \"", std::string(esc), "\""));
  return absl::InvalidArgumentError("bad %-escape: '%' must be followed by two hex digits");
}

absl::StatusOr<std::string> Decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      int hi = i + 2 < s.size() ? Hex(s[i + 1]) : -1;
      int lo = i + 2 < s.size() ? Hex(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) return BadEscape(s, i);
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<Target> ParseTarget(std::string_view target) {
  Target t;
  size_t q = target.find('?');
  auto path = Decode(target.substr(0, q), false);
  if (!path.ok()) return path.status();
  t.path = *std::move(path);
  if (q == std::string_view::npos) return t;
  std::string query(target.substr(q + 1));
  for (absl::string_view piece : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::string_view part(piece.data(), piece.size());
    size_t eq = part.find('=');
    auto k = Decode(part.substr(0, eq), true);
    if (!k.ok()) return k.status();
    std::string v;
    if (eq != std::string_view::npos) {
      auto dv = Decode(part.substr(eq + 1), true);
      if (!dv.ok()) return dv.status();
      v = *std::move(dv);
    }
    t.params.emplace_back(*k, v);
    t.query[*k] = std::move(v);
  }
  return t;
}

}  // namespace clawos::http
