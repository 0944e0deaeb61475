// Templates in a step's command, prompt and env: `{{ steps.<id>.stdout }}`,
// `{{ steps.<id>.exit_code }}`, `{{ steps.<id>.files.<path> }}` (a file the step
// left under /workspace/out) and `{{ workflow.id }}`, each optionally followed by
// `| raw` (shell_template.h: pasted into an exec string as is). Whitespace inside
// the braces is allowed; `{{` with nothing that parses is an error, never text.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace clawos::orchestrator {

struct TemplateRef {
  enum Kind { kStdout, kExitCode, kFile, kWorkflowId };
  Kind kind = kStdout;
  std::string step;  // empty for kWorkflowId
  std::string path;  // kFile: relative to /workspace/out
  bool raw = false;  // `| raw`
  bool operator==(const TemplateRef&) const = default;
};

// A relative path under a directory: no empty, "." or ".." parts, no
// control characters or braces, at most 255 bytes.
bool IsSafeRelativePath(std::string_view path);

// The references in `text`, in order; INVALID_ARGUMENT naming the bad one.
absl::StatusOr<std::vector<TemplateRef>> ParseTemplate(std::string_view text);

// Calls `on_text` and `on_ref` for the pieces of `text` in order; the first
// parse error or error of `on_ref` is returned.
absl::Status WalkTemplate(std::string_view text,
                          const std::function<void(std::string_view)>& on_text,
                          const std::function<absl::Status(const TemplateRef&)>& on_ref);

// `text` with every reference replaced by `resolve(ref)`; the first error of
// `resolve` (or of parsing) is returned.
using TemplateResolver = std::function<absl::StatusOr<std::string>(const TemplateRef&)>;
absl::StatusOr<std::string> RenderTemplate(std::string_view text, const TemplateResolver& resolve);

}  // namespace clawos::orchestrator
