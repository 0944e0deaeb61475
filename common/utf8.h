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

// The offset of the first byte of `s` that is not part of well-formed UTF-8
// (as ToValidUtf8 defines it), or std::string_view::npos if there is none.
size_t FirstInvalidUtf8(std::string_view s);

// Text from a guest made fit to store, put in a proto string and show: valid
// UTF-8 (as ToValidUtf8), every C0 control, DEL and C1 control (U+0080..9F)
// replaced by U+FFFD except '\t' and, when `keep_newlines`, '\n'; '\r' is
// dropped. At most `max_bytes` bytes, cut at a character boundary.
std::string ToSafeText(std::string_view s, size_t max_bytes, bool keep_newlines = true);

}  // namespace clawos
