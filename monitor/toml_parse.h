// TOML parsing (toml++) that is defined for every input.
//
// toml++ 3.3.0 (Debian 12) reaches __builtin_unreachable in its Unicode
// whitespace test for 3019 characters: U+00A1..U+0499 (Latin-1, Latin
// Extended, Greek, Cyrillic), U+2C5E..U+2FFF, U+3001..U+3057 and
// U+FB26..U+FEFE (tomlplusplus#190, #295; fixed after 3.3.0). It asks that
// test wherever a character could be whitespace, also inside a value it scans
// (`a = 1"é"`) and after a line-ending backslash in a string, so where such a
// character may appear cannot be told without parsing. ParseToml therefore
// hands toml++ each of them as a stand-in, U+F0000 + the character (a
// private-use character toml++ treats the same way in every respect but
// that test), and turns the stand-ins back in every key and string of the
// result and in error messages. So any TOML is read as TOML says, and
// nothing reaches the undefined path.
//
// Refused before toml++ sees the text (INVALID_ARGUMENT "origin:line: what"):
// invalid UTF-8 (the byte is named) and the stand-ins themselves
// (U+F00A1..U+FFEFE, private-use characters no policy needs).
#pragma once

#include <toml++/toml.h>

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace clawos::monitor {

// toml::parse(text, origin), with toml++'s errors as INVALID_ARGUMENT
// "origin:line: description".
absl::StatusOr<toml::table> ParseToml(std::string_view text, const std::string& origin);

}  // namespace clawos::monitor
