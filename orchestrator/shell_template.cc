#include "orchestrator/shell_template.h"

#include <cstring>
#include <deque>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"

namespace clawos::orchestrator {
namespace {

// Where a template stands in the script.
enum class Spot {
  kUnquoted,
  kDouble,
  kSingle,
  kArith,
  kHereDoc,
  kQuotedHereDoc,
  kComment,
  kAfterBackslash,
  kDelimiter
};

bool IsBreak(char c) { return c == ' ' || c == '\t' || c == '\n' || std::strchr(";&|()<>", c); }

// sh's quoting, as far as it decides what a template's text would be: quotes,
// backslashes, $(...), $((...)), backticks, comments and here-documents.
class ShellLexer {
 public:
  void Feed(std::string_view text) {
    for (char c : text) Step(c);
  }
  // Text of our own (a variable reference) that leaves the state as it was.
  void AfterReference() {
    line_tainted_ = true;
    word_start_ = false;
    prev_ = 0;
    frames_.back().fresh = false;
  }
  Spot Where() const {
    if (in_body_) return pending_.front().quoted ? Spot::kQuotedHereDoc : Spot::kHereDoc;
    if (comment_) return Spot::kComment;
    if (delim_ != Delim::kNone) return Spot::kDelimiter;
    if (escape_) return Spot::kAfterBackslash;
    const Frame& f = frames_.back();
    if (f.sq) return Spot::kSingle;
    if (f.dq) return Spot::kDouble;
    return f.kind == Kind::kArith ? Spot::kArith : Spot::kUnquoted;
  }

 private:
  enum class Kind { kTop, kSubst, kArith, kBacktick };
  struct Frame {
    Kind kind = Kind::kTop;
    bool sq = false, dq = false;
    bool fresh = false;  // nothing read since "$(" (a second "(" makes it $((...)))
    int parens = 0;
  };
  struct HereDoc {
    std::string delim;
    bool strip_tabs = false, quoted = false;
  };
  enum class Delim { kNone, kDash, kWait, kWord };

  void Step(char c) {
    if (in_body_) return Body(c);
    if (comment_) {
      if (c == '\n') {
        comment_ = false;
        Newline();
      }
      return;
    }
    if (delim_ != Delim::kNone && Delimiter(c)) return;
    Frame& f = frames_.back();
    if (escape_) {
      escape_ = false;
      prev_ = 0;
      word_start_ = false;
      f.fresh = false;
      return;
    }
    if (f.kind == Kind::kBacktick && c == '`') {  // ends it, quoted or not
      frames_.pop_back();
      prev_ = c;
      return;
    }
    if (f.sq) {
      if (c == '\'') f.sq = false;
      return;
    }
    if (c == '\\') {
      escape_ = true;
      return;
    }
    if (f.dq) {
      if (c == '"') f.dq = false;
      if (c == '`') frames_.push_back({Kind::kBacktick});
      if (c == '(' && prev_ == '$') frames_.push_back({Kind::kSubst, false, false, true});
      prev_ = c;
      return;
    }
    Unquoted(c);
  }

  void Unquoted(char c) {
    Frame& f = frames_.back();
    const bool fresh = f.fresh;
    f.fresh = false;
    switch (c) {
      case '\'':
        f.sq = true;
        break;
      case '"':
        f.dq = true;
        break;
      case '`':
        frames_.push_back({Kind::kBacktick});
        break;
      case '(':
        if (prev_ == '$') {
          frames_.push_back({Kind::kSubst, false, false, true});
        } else if (fresh && f.kind == Kind::kSubst) {
          f.kind = Kind::kArith;
          f.parens = 1;
        } else {
          ++f.parens;
        }
        break;
      case ')':
        if (f.kind == Kind::kSubst || f.kind == Kind::kArith) {
          if (f.parens > 0) {
            --f.parens;
          } else {
            frames_.pop_back();
          }
        }
        break;
      case '#':
        comment_ = word_start_ && f.kind != Kind::kArith;
        break;
      case '<':
        if (prev_ == '<' && f.kind != Kind::kArith) {
          delim_ = Delim::kDash;
          reading_ = {};
          c = 0;  // "<<<" is not "<<" twice
        }
        break;
      case '\n':
        Newline();
        break;
    }
    word_start_ = c == 0 || IsBreak(c);
    prev_ = c;
  }

  // The word after "<<"; true if `c` was part of it.
  bool Delimiter(char c) {
    if (delim_ == Delim::kDash) {
      delim_ = Delim::kWait;
      if (c == '-') {
        reading_.strip_tabs = true;
        return true;
      }
      if (c == '<') {  // bash's here-string "<<<"
        delim_ = Delim::kNone;
        return false;
      }
    }
    if (delim_ == Delim::kWait) {
      if (c == ' ' || c == '\t') return true;
      if (IsBreak(c)) {
        delim_ = Delim::kNone;
        return false;
      }
      delim_ = Delim::kWord;
    }
    if (delim_escape_) {
      delim_escape_ = false;
      reading_.delim += c;
      return true;
    }
    if (delim_quote_) {
      if (c == delim_quote_) {
        delim_quote_ = 0;
      } else {
        reading_.delim += c;
      }
      return true;
    }
    if (c == '\\' || c == '\'' || c == '"') {
      reading_.quoted = true;
      if (c == '\\') {
        delim_escape_ = true;
      } else {
        delim_quote_ = c;
      }
      return true;
    }
    if (IsBreak(c)) {
      pending_.push_back(std::move(reading_));
      delim_ = Delim::kNone;
      return false;
    }
    reading_.delim += c;
    return true;
  }

  void Newline() {
    if (pending_.empty()) return;
    in_body_ = true;
    line_.clear();
    line_tainted_ = false;
  }

  void Body(char c) {
    if (c != '\n') {
      line_ += c;
      return;
    }
    std::string_view line = line_;
    if (pending_.front().strip_tabs) {
      while (!line.empty() && line.front() == '\t') line.remove_prefix(1);
    }
    if (!line_tainted_ && line == pending_.front().delim) {
      pending_.pop_front();
      in_body_ = !pending_.empty();
    }
    line_.clear();
    line_tainted_ = false;
  }

  std::vector<Frame> frames_{Frame{}};
  bool escape_ = false, comment_ = false, word_start_ = true;
  char prev_ = 0;
  Delim delim_ = Delim::kNone;
  HereDoc reading_;
  char delim_quote_ = 0;
  bool delim_escape_ = false;
  std::deque<HereDoc> pending_;
  bool in_body_ = false, line_tainted_ = false;
  std::string line_;
};

std::string Describe(const TemplateRef& r) {
  switch (r.kind) {
    case TemplateRef::kWorkflowId:
      return "workflow.id";
    case TemplateRef::kExitCode:
      return absl::StrCat("steps.", r.step, ".exit_code");
    case TemplateRef::kFile:
      return absl::StrCat("steps.", r.step, ".files.", r.path);
    case TemplateRef::kStdout:
      break;
  }
  return absl::StrCat("steps.", r.step, ".stdout");
}

absl::Status Refuse(Spot spot, const TemplateRef& r) {
  const char* why = nullptr;
  if (spot == Spot::kAfterBackslash) why = "cannot follow a backslash";
  if (spot == Spot::kDelimiter) why = "cannot be a here-document's delimiter";
  if (spot == Spot::kQuotedHereDoc) {
    why =
        "is in a here-document whose delimiter is quoted, where nothing expands: leave the "
        "delimiter unquoted (<<EOF)";
  }
  if (!why) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("template {{ ", Describe(r), " }} ", why));
}

std::string Reference(const std::string& var, Spot spot) {
  switch (spot) {
    case Spot::kDouble:
    case Spot::kArith:
    case Spot::kHereDoc:
      return absl::StrCat("${", var, "}");
    case Spot::kSingle:
      return absl::StrCat("'\"${", var, "}\"'");
    default:
      return absl::StrCat("\"${", var, "}\"");
  }
}

// `resolve` null: only the places are checked.
absl::StatusOr<ShellCommand> Render(std::string_view script, const TemplateResolver* resolve) {
  ShellCommand out;
  ShellLexer lexer;
  std::map<std::tuple<int, std::string, std::string>, std::string> vars;
  absl::Status s = WalkTemplate(
      script,
      [&](std::string_view text) {
        lexer.Feed(text);
        out.script.append(text);
      },
      [&](const TemplateRef& ref) -> absl::Status {
        const Spot spot = lexer.Where();
        if (!ref.raw) {
          if (absl::Status st = Refuse(spot, ref); !st.ok()) return st;
        }
        std::string value;
        if (resolve) {
          auto v = (*resolve)(ref);
          if (!v.ok()) return v.status();
          value = std::move(*v);
          if (value.find('\0') != std::string::npos) {
            return absl::InvalidArgumentError(absl::StrCat(
                Describe(ref), " holds a NUL byte, which cannot be passed to a command"));
          }
          if (!ref.raw && value.size() > kMaxShellTemplateValue) {
            return absl::InvalidArgumentError(
                absl::StrCat(Describe(ref), " is ", value.size(),
                             " bytes, more than a command's environment string can hold (",
                             kMaxShellTemplateValue, ")"));
          }
        }
        if (ref.raw) {
          lexer.Feed(value);
          out.script += value;
          return absl::OkStatus();
        }
        auto [it, added] =
            vars.emplace(std::make_tuple(static_cast<int>(ref.kind), ref.step, ref.path),
                         absl::StrCat("CLAWOS_TEMPLATE_", vars.size() + 1));
        if (added) out.env[it->second] = std::move(value);
        out.script += Reference(it->second, spot);
        lexer.AfterReference();
        return absl::OkStatus();
      });
  if (!s.ok()) return s;
  return out;
}

}  // namespace

absl::StatusOr<ShellCommand> RenderShellTemplate(std::string_view script,
                                                 const TemplateResolver& resolve) {
  return Render(script, &resolve);
}

absl::Status CheckShellTemplate(std::string_view script) {
  return Render(script, nullptr).status();
}

}  // namespace clawos::orchestrator
