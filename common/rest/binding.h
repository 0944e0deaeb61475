// The REST bindings of gRPC methods, read from their descriptors: each
// method's google.api.http rule (and its additional_bindings) with the
// clawos.api.v1 options (access, deadline, stream format), and the table
// that finds the binding of a request. The control plane's transcoder serves
// these; the CLI's REST client calls them; the OpenAPI generator documents
// them. A route exists because a proto says so, and nowhere else.
#pragma once

#include <google/protobuf/descriptor.h>

#include <optional>
#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clawos/api/v1/options.pb.h"
#include "common/rest/path_template.h"

namespace clawos::rest {

struct Binding {
  const google::protobuf::MethodDescriptor* method = nullptr;
  std::string verb;  // GET, POST, PUT, PATCH, DELETE
  PathTemplate path;
  std::string body;           // "" (none), "*" (the whole request) or a top-level field
  std::string response_body;  // "" (the whole response) or a top-level field
  api::v1::Access access = api::v1::ACCESS_UNSPECIFIED;
  absl::Duration timeout = absl::Seconds(30);  // unary calls only
  api::v1::RestStream stream;                  // server streams only
};

// Every binding of the methods of `services`. INVALID_ARGUMENT naming the
// method when a rule is malformed: a bad path template, a variable or body
// naming no field (or a variable that is not a string), an http rule without
// an access, a client-streaming method whose rule has path variables or a
// body other than "*" (its body is NDJSON, one request per line), or two
// bindings with the same verb and path.
absl::StatusOr<std::vector<Binding>> BindingsOf(
    const std::vector<const google::protobuf::ServiceDescriptor*>& services);

// The binding of a method (its first, when it has several), or nullptr.
const Binding* FindBinding(const std::vector<Binding>& bindings,
                           const google::protobuf::MethodDescriptor* method);

class RouteTable {
 public:
  explicit RouteTable(std::vector<Binding> bindings);

  struct Match {
    const Binding* binding = nullptr;
    PathTemplate::Bindings values;
  };
  // The binding for `verb` and `path` (percent-decoded, no query): the most
  // specific template that matches (PathTemplate::MoreSpecificThan), or
  // nullopt. `allowed` gets the verbs the path has when only the verb is
  // wrong (for 405).
  std::optional<Match> Find(absl::string_view verb, absl::string_view path,
                            std::vector<std::string>* allowed = nullptr) const;

  const std::vector<Binding>& bindings() const { return bindings_; }

 private:
  std::vector<Binding> bindings_;
};

}  // namespace clawos::rest
