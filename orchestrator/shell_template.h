// Templates in a string-form exec (a script run by `sh -c`). The shell never
// parses a template's text: each one (but `{{ ... | raw }}`) is put in an
// environment variable, CLAWOS_TEMPLATE_<n>, and the script gets a reference to
// that variable instead, written for where the template stands, so that it
// expands to exactly its text:
//
//   outside quotes, or in a comment   "${CLAWOS_TEMPLATE_1}"    (one word)
//   inside "...", in $((...)),        ${CLAWOS_TEMPLATE_1}
//     in a here-document's body
//   inside '...'                      '"${CLAWOS_TEMPLATE_1}"'
//
// The shell does not parse what an expansion yields, so whatever the text holds
// (quotes, $(...), backticks, newlines, `; rm -rf /`) stays data. Where the
// place is found is a small lexer of sh's quoting (quotes, backslashes, $(...),
// backticks, comments, here-documents); where it guesses wrong, the text is
// split into words or shown with the reference, never run. Refused, as a
// template the shell could not be given as data: one right after a backslash,
// one in a here-document's delimiter, and one in the body of a here-document
// whose delimiter is quoted (<<'EOF': nothing expands there).
//
// `| raw` pastes the text into the script as it is (the shell parses it: only
// for text the workflow's author controls). NUL bytes cannot be passed to a
// command at all, and Linux passes no environment string over 128 KiB: a
// value holding one, or longer than kMaxShellTemplateValue, is an error.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "orchestrator/template.h"

namespace clawos::orchestrator {

// 128 KiB (MAX_ARG_STRLEN) less room for "CLAWOS_TEMPLATE_<n>=" and the NUL.
inline constexpr size_t kMaxShellTemplateValue = 128 * 1024 - 64;

struct ShellCommand {
  std::string script;                      // for sh -c
  std::map<std::string, std::string> env;  // CLAWOS_TEMPLATE_<n> -> text
};

// The script with its templates replaced as above; the same reference (say
// steps.a.stdout) used twice shares one variable. INVALID_ARGUMENT for a
// template in a place refused above or a value with a NUL byte; errors of
// `resolve` are passed through.
absl::StatusOr<ShellCommand> RenderShellTemplate(std::string_view script,
                                                 const TemplateResolver& resolve);

// What RenderShellTemplate would refuse in `script` whatever the values are
// (the spec parser's check); raw values, unknown here, are not looked at.
absl::Status CheckShellTemplate(std::string_view script);

}  // namespace clawos::orchestrator
