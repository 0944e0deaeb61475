// A google.api.http path template ("/v1/{name=vms/*}:start"), parsed once:
// matched against a request path (giving each variable's value) by the
// control plane's transcoder, and expanded from a request's fields by the
// CLI's REST client. The grammar is google/api/http.proto's:
//
//   Template = "/" Segments [ ":" Verb ]
//   Segment  = "*" | "**" | LITERAL | "{" FieldPath [ "=" Segments ] "}"
//
// `{f}` is `{f=*}`; `**` (any number of segments) may only come last.
// Every segment a `*` or `**` matches must be 1-128 of [A-Za-z0-9._-]: a
// value with anything else names nothing (no match), so a hostile path never
// reaches a daemon's names.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace clawos::rest {

class PathTemplate {
 public:
  struct Variable {
    std::string field_path;  // "name", "limit.name"
    size_t first = 0;        // segments [first, last) are its value
    size_t last = 0;
  };
  // A variable's field path and its value ("vms/c1").
  using Bindings = std::vector<std::pair<std::string, std::string>>;

  // INVALID_ARGUMENT naming what is wrong with the template.
  static absl::StatusOr<PathTemplate> Parse(absl::string_view text);

  // The bindings when `path` (percent-decoded, no query) matches.
  std::optional<Bindings> Match(absl::string_view path) const;

  // The path for these values (percent-encoded); INVALID_ARGUMENT when a
  // value is missing or does not fit its variable's pattern.
  absl::StatusOr<std::string> Expand(const Bindings& values) const;

  // Orders matching templates: literal segments beat `*`, which beats `**`,
  // from the left; then a template with a verb beats one without. True when
  // this template should win over `other`.
  bool MoreSpecificThan(const PathTemplate& other) const;

  const std::string& text() const { return text_; }
  const std::string& verb() const { return verb_; }
  const std::vector<Variable>& variables() const { return variables_; }
  // The template as an OpenAPI path, whose parameters are single segments:
  // a variable's literal segments stay in the path and each wildcard is a
  // parameter named after the field's last part ("/v1/{name=vms/*}:start" is
  // "/v1/vms/{name}:start"; a second wildcard of the same variable is
  // "{name_2}"). `params` gets the parameters' names with their variables.
  std::string OpenApiPath(std::vector<std::pair<std::string, const Variable*>>* params) const;

 private:
  enum class Kind { kLiteral, kStar, kDoubleStar };
  struct Segment {
    Kind kind;
    std::string literal;
  };

  std::string text_;
  std::vector<Segment> segments_;
  std::vector<Variable> variables_;
  std::string verb_;
};

// A segment a wildcard may match: 1-128 of [A-Za-z0-9._-].
bool ValidPathValue(absl::string_view segment);

// RFC 3986 percent-encoding of everything but unreserved characters (for a
// path segment or a query name or value).
std::string PercentEncode(absl::string_view s);

}  // namespace clawos::rest
