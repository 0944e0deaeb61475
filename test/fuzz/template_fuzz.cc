// libFuzzer target for the workflow templates (orchestrator/template.h) and
// their rendering into a string-form exec (orchestrator/shell_template.h),
// where a step's output, which an agent controls, meets `sh -c`.
//
// The input gives a template text, then a value (what every reference
// resolves to: a hostile step's stdout). Properties checked beside the
// sanitizers: parsing, walking and rendering agree (the same references, in
// order, text pieces kept); references name valid step ids and safe file
// paths; and in a shell script the values never become script text: with no
// `| raw` template the script rendered with the hostile value is exactly the
// one rendered with a harmless value, every value lands unchanged in its
// CLAWOS_TEMPLATE_<n> variable (one per distinct reference), a NUL in a
// value is refused, and the script check without values refuses exactly
// what rendering with a harmless value refuses.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "orchestrator/shell_template.h"
#include "orchestrator/spec.h"
#include "orchestrator/template.h"
#include "test/fuzz/require.h"

namespace {

using namespace clawos::orchestrator;

using clawos::fuzz::Require;

TemplateResolver Constant(const std::string& value) {
  return [value](const TemplateRef&) -> absl::StatusOr<std::string> { return value; };
}

void CheckRefs(const std::string& text) {
  auto refs = ParseTemplate(text);
  std::vector<TemplateRef> walked;
  std::string pieces;
  absl::Status walk = WalkTemplate(
      text, [&](std::string_view t) { pieces.append(t); },
      [&](const TemplateRef& r) {
        walked.push_back(r);
        return absl::OkStatus();
      });
  Require(walk.ok() == refs.ok());
  auto rendered = RenderTemplate(text, Constant(""));
  Require(rendered.ok() == refs.ok());
  if (!refs.ok()) {
    Require(refs.status().code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  Require(walked == *refs && *rendered == pieces);
  if (text.find("{{") == std::string::npos) Require(refs->empty() && pieces == text);
  auto marked = RenderTemplate(text, Constant("<>"));
  Require(marked.ok() && marked->size() == pieces.size() + 2 * refs->size());
  for (const TemplateRef& r : *refs) {
    if (r.kind == TemplateRef::kWorkflowId) {
      Require(r.step.empty() && r.path.empty());
      continue;
    }
    Require(!r.step.empty());
    for (char c : r.step) Require((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
    Require(r.kind == TemplateRef::kFile ? IsSafeRelativePath(r.path) : r.path.empty());
  }
}

void CheckShell(const std::string& script, const std::string& value) {
  auto refs = ParseTemplate(script);
  absl::Status check = CheckShellTemplate(script);
  auto harmless = RenderShellTemplate(script, Constant("x"));
  auto hostile = RenderShellTemplate(script, Constant(value));
  if (!refs.ok()) {
    Require(!check.ok() && !harmless.ok() && !hostile.ok());
    return;
  }
  bool raw = false;
  std::set<std::tuple<int, std::string, std::string>> distinct;
  for (const TemplateRef& r : *refs) {
    raw = raw || r.raw;
    if (!r.raw) distinct.emplace(r.kind, r.step, r.path);
  }
  if (raw) return;  // a raw value is script text by design (and moves the lexer)
  if (!check.ok()) Require(!hostile.ok());
  Require(check.ok() == harmless.ok());
  if (!harmless.ok()) return;
  if (value.find('\0') != std::string::npos && !refs->empty()) {
    Require(!hostile.ok());
    return;
  }
  Require(hostile.ok());
  Require(hostile->script == harmless->script);
  Require(hostile->env.size() == distinct.size());
  for (size_t i = 1; i <= distinct.size(); ++i) {
    auto it = hostile->env.find("CLAWOS_TEMPLATE_" + std::to_string(i));
    Require(it != hostile->env.end() && it->second == value);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  std::string text = in.ConsumeRandomLengthString();
  std::string value = in.ConsumeRemainingBytesAsString();
  CheckRefs(text);
  CheckShell(text, value);
  return 0;
}
