#include "cli/terminal_text.h"

#include "absl/strings/str_format.h"
#include "common/utf8.h"

namespace clawos::cli {
namespace {

// The length of the well-formed UTF-8 sequence at s[i] (1-4), or 0.
size_t SequenceAt(std::string_view s, size_t i) {
  for (size_t len = 1; len <= 4 && i + len <= s.size(); ++len) {
    if (IsValidUtf8(s.substr(i, len))) return len;
  }
  return 0;
}

std::string Escape(std::string_view s, bool keep_line_breaks) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t len = SequenceAt(s, i);
    auto c = static_cast<unsigned char>(s[i]);
    auto c1 = len == 2 ? static_cast<unsigned char>(s[i + 1]) : 0;
    if (len == 0) {
      out += absl::StrFormat("\\x%02x", c);
      i += 1;
      continue;
    }
    if (len == 1 && (c == '\n' || c == '\t')) {
      out += keep_line_breaks ? std::string(1, static_cast<char>(c)) : c == '\n' ? "\\n" : "\\t";
    } else if (len == 1 && (c < 0x20 || c == 0x7f)) {
      out += absl::StrFormat("\\x%02x", c);
    } else if (len == 2 && c == 0xC2 && c1 < 0xA0) {  // U+0080..U+009F
      out += absl::StrFormat("\\u%04x", c1);
    } else {
      out.append(s.substr(i, len));
    }
    i += len;
  }
  return out;
}

}  // namespace

std::string TerminalSafe(std::string_view s) { return Escape(s, true); }

std::string TerminalSafeLine(std::string_view s) { return Escape(s, false); }

std::string JsonTerminalSafe(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  for (size_t i = 0; i < json.size(); ++i) {
    auto c = static_cast<unsigned char>(json[i]);
    auto next = i + 1 < json.size() ? static_cast<unsigned char>(json[i + 1]) : 0;
    if ((c < 0x20 && c != '\n') || c == 0x7f) {
      out += absl::StrFormat("\\u%04x", c);
    } else if (c == 0xC2 && next >= 0x80 && next < 0xA0) {
      out += absl::StrFormat("\\u%04x", next);
      ++i;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace clawos::cli
