#include "orchestrator/template.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace clawos::orchestrator {
namespace {

bool IsIdChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

bool IsPathSafe(absl::string_view p) {
  if (p.empty() || p.front() == '/' || p.size() > 255) return false;
  for (absl::string_view part : absl::StrSplit(p, '/')) {
    if (part.empty() || part == "." || part == "..") return false;
  }
  for (char c : p) {
    if (static_cast<unsigned char>(c) < ' ' || c == 0x7f || c == '}' || c == '{') return false;
  }
  return true;
}

template <typename Bad>
absl::StatusOr<TemplateRef> ParseExpr(absl::string_view expr, const Bad& bad) {
  if (expr == "workflow.id") return TemplateRef{TemplateRef::kWorkflowId, "", ""};
  if (!absl::ConsumePrefix(&expr, "steps.")) {
    return bad(
        "expected steps.<id>.stdout, steps.<id>.exit_code, steps.<id>.files.<path> or workflow.id");
  }
  size_t dot = expr.find('.');
  absl::string_view step = expr.substr(0, dot);
  if (step.empty() || dot == absl::string_view::npos) return bad("missing the step's field");
  for (char c : step) {
    if (!IsIdChar(c)) return bad(absl::StrCat("\"", std::string(step), "\" is not a step id"));
  }
  absl::string_view field = expr.substr(dot + 1);
  if (field == "stdout") return TemplateRef{TemplateRef::kStdout, std::string(step), ""};
  if (field == "exit_code") return TemplateRef{TemplateRef::kExitCode, std::string(step), ""};
  if (absl::ConsumePrefix(&field, "files.")) {
    if (!IsPathSafe(field)) return bad("the file must be a relative path under /workspace/out");
    return TemplateRef{TemplateRef::kFile, std::string(step), std::string(field)};
  }
  return bad(
      absl::StrCat("unknown field \"", std::string(field), "\" (stdout, exit_code, files.<path>)"));
}

absl::StatusOr<TemplateRef> ParseRef(std::string_view inner_std) {
  absl::string_view inner(inner_std.data(), inner_std.size());
  absl::string_view expr = absl::StripAsciiWhitespace(inner);
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad template \"{{", std::string(inner), "}}\": ", std::string(why)));
  };
  bool raw = false;
  if (size_t bar = expr.rfind('|'); bar != absl::string_view::npos) {
    absl::string_view filter = absl::StripAsciiWhitespace(expr.substr(bar + 1));
    if (filter != "raw") {
      return bad(
          absl::StrCat("unknown filter \"", std::string(filter), "\" (the only one is raw)"));
    }
    raw = true;
    expr = absl::StripTrailingAsciiWhitespace(expr.substr(0, bar));
  }
  auto ref = ParseExpr(expr, bad);
  if (ref.ok()) ref->raw = raw;
  return ref;
}

}  // namespace

absl::Status WalkTemplate(std::string_view text,
                          const std::function<void(std::string_view)>& on_text,
                          const std::function<absl::Status(const TemplateRef&)>& on_ref) {
  while (!text.empty()) {
    size_t open = text.find("{{");
    if (open == std::string_view::npos) {
      on_text(text);
      break;
    }
    on_text(text.substr(0, open));
    size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError("bad template: \"{{\" without a closing \"}}\"");
    }
    auto ref = ParseRef(text.substr(open + 2, close - open - 2));
    if (!ref.ok()) return ref.status();
    if (absl::Status s = on_ref(*ref); !s.ok()) return s;
    text.remove_prefix(close + 2);
  }
  return absl::OkStatus();
}

bool IsSafeRelativePath(std::string_view path) {
  return IsPathSafe(absl::string_view(path.data(), path.size()));
}

absl::StatusOr<std::vector<TemplateRef>> ParseTemplate(std::string_view text) {
  std::vector<TemplateRef> refs;
  absl::Status s = WalkTemplate(
      text, [](std::string_view) {},
      [&](const TemplateRef& r) {
        refs.push_back(r);
        return absl::OkStatus();
      });
  if (!s.ok()) return s;
  return refs;
}

absl::StatusOr<std::string> RenderTemplate(std::string_view text, const TemplateResolver& resolve) {
  std::string out;
  absl::Status s = WalkTemplate(
      text, [&](std::string_view t) { out.append(t); },
      [&](const TemplateRef& r) -> absl::Status {
        auto v = resolve(r);
        if (!v.ok()) return v.status();
        out += *v;
        return absl::OkStatus();
      });
  if (!s.ok()) return s;
  return out;
}

}  // namespace clawos::orchestrator
