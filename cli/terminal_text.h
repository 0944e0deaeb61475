// Text that came from a guest (its log lines, console, failure reasons, file
// names), made safe to print on an operator's terminal. A guest must not be
// able to move the cursor, clear the screen, set the window title, write to
// the clipboard (OSC 52) or hide text with escape sequences, whatever it puts
// in a string the CLI shows. Display only: not reversible (a literal "\x1b"
// in the text looks like an escaped ESC), and never applied to data the user
// asked for byte-exact (`vm exec` output, `vm cp ... -`, `workflow output`).
#pragma once

#include <string>
#include <string_view>

namespace clawos::cli {

// `s` with every C0 control except '\n' and '\t' (so also ESC and CR), DEL,
// and every C1 control (U+0080..U+009F, as two-byte UTF-8) written as `\xNN`
// (C1 as `\u00NN`), and every byte that is not part of well-formed UTF-8 as
// `\xNN`. Everything else, other UTF-8 included, is kept.
std::string TerminalSafe(std::string_view s);

// As TerminalSafe, and '\n' and '\t' escaped too (`\n`, `\t`): for a value
// shown inside one line (a table cell, "failure: ...").
std::string TerminalSafeLine(std::string_view s);

// JSON text (valid UTF-8, as protobuf and nlohmann write it) with the
// controls their escaping leaves raw, DEL and C1, written as \u007f and
// \u0080..\u009f, and any raw C0 other than '\n' as \u00NN. The JSON's
// value is unchanged: outside strings, JSON holds none of these.
std::string JsonTerminalSafe(std::string_view json);

}  // namespace clawos::cli
