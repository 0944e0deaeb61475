// libFuzzer target for common/utf8.h, the one helper that makes guest bytes
// fit for a proto string, JSON and a terminal (console tails, failure
// reasons, log lines, agent versions, file names).
//
// Input byte 0: bit 0 is keep_newlines, bits 1..7 with byte 1 give max_bytes
// (0..32767); the rest is the text. Properties checked beside the sanitizers:
// IsValidUtf8 agrees with an independent decoder (RFC 3629); ToValidUtf8's
// output is valid, equals its input when that was valid, is a fixed point
// and never longer than three bytes per input byte; ToSafeText's output is
// valid, at most max_bytes, has no C0 control (but '\t', and '\n' when kept),
// no CR, DEL or C1 control, is a fixed point, and is a prefix of the result
// with a larger max_bytes (the cut is at a character boundary).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/utf8.h"
#include "test/fuzz/require.h"

namespace {

using namespace clawos;

using clawos::fuzz::Require;

// RFC 3629 by code points, written apart from common/utf8.cc on purpose.
bool ReferenceValid(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
    unsigned char c = b(0);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      len = 1, cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((b(k) & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b(k) & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

// No control character but '\t' (and '\n' when `newlines`): C0, DEL, C1.
bool NoControls(std::string_view s, bool newlines) {
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = s[i];
    if (c == '\t' || (newlines && c == '\n')) continue;
    if (c < 0x20 || c == 0x7F) return false;
    if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) < 0xA0) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const bool newlines = data[0] & 1;
  const size_t max_bytes = (size_t{data[0]} >> 1) << 8 | data[1];
  std::string_view text(reinterpret_cast<const char*>(data + 2), size - 2);

  const bool valid = IsValidUtf8(text);
  Require(valid == ReferenceValid(text));

  std::string fixed = ToValidUtf8(text);
  Require(IsValidUtf8(fixed) && ReferenceValid(fixed));
  Require(fixed.size() <= 3 * text.size());
  Require(!valid || fixed == text);
  Require(ToValidUtf8(fixed) == fixed);

  std::string safe = ToSafeText(text, max_bytes, newlines);
  Require(IsValidUtf8(safe) && ReferenceValid(safe));
  Require(safe.size() <= max_bytes);
  Require(safe.find('\r') == std::string::npos && NoControls(safe, newlines));
  Require(ToSafeText(safe, max_bytes, newlines) == safe);
  std::string longer = ToSafeText(text, max_bytes + 7, newlines);
  Require(longer.compare(0, safe.size(), safe) == 0);
  return 0;
}
