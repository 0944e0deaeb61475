// UTF-8 checks for text that goes into protobuf strings and JSON.
#pragma once

#include <string>
#include <string_view>

namespace clawos {

// `s` with every byte that is not part of well-formed UTF-8 (RFC 3629: no
// overlong forms, no surrogates, nothing past U+10FFFF) replaced by U+FFFD.
std::string ToValidUtf8(std::string_view s);

// Whether `s` is well-formed UTF-8 as ToValidUtf8 defines it.
bool IsValidUtf8(std::string_view s);

}  // namespace clawos
