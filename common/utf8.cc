#include "common/utf8.h"

#include <algorithm>

namespace clawos {
namespace {

// The length of the well-formed sequence at s[i], or 0 if there is none.
size_t SequenceLength(std::string_view s, size_t i) {
  unsigned char c = s[i];
  size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return 0;
  }
  unsigned char c1 = len > 1 ? s[i + 1] : 0;
  if (len == 2 && c < 0xC2) return 0;                                         // overlong
  if (len == 3 && ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0))) {  // overlong, surrogate
    return 0;
  }
  if (len == 4 && (c > 0xF4 || (c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 >= 0x90))) return 0;
  return len;
}

}  // namespace

std::string ToValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t len = SequenceLength(s, i);
    if (len > 0) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

bool IsValidUtf8(std::string_view s) { return FirstInvalidUtf8(s) == std::string_view::npos; }

size_t FirstInvalidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t len = SequenceLength(s, i);
    if (len == 0) return i;
    i += len;
  }
  return std::string_view::npos;
}

std::string ToSafeText(std::string_view s, size_t max_bytes, bool keep_newlines) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(std::min(s.size(), max_bytes));
  for (size_t i = 0; i < s.size();) {
    size_t len = SequenceLength(s, i);
    std::string_view piece = len > 0 ? s.substr(i, len) : kReplacement;
    i += len > 0 ? len : 1;
    unsigned char c = piece[0];
    if (c == '\r') continue;
    bool control =
        (len == 1 && (c < 0x20 || c == 0x7f) && c != '\t' && !(keep_newlines && c == '\n')) ||
        (len == 2 && c == 0xC2 && static_cast<unsigned char>(piece[1]) < 0xA0);
    if (control) piece = kReplacement;
    if (out.size() + piece.size() > max_bytes) break;
    out.append(piece);
  }
  return out;
}

}  // namespace clawos
