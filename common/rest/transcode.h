// REST ↔ gRPC messages for one binding (binding.h), both ways, as
// grpc-gateway maps them:
//
//   - the path's variables set their fields;
//   - the body (JSON, protobuf's mapping) fills the whole request ("*") or
//     one field; a body that sets a field the path also sets must agree;
//   - every other field may come from the query (`?page_size=5`,
//     `?start_time=2026-01-01T00:00:00Z`, nested as `a.b=`); unknown query
//     parameters are ignored;
//   - a request with an `update_mask` whose body is one field gets the mask
//     of the body's keys when it gives none (an empty body is refused then);
//   - fields marked (clawos.api.v1.rest_default) take that value when the
//     call did not set them; the stream's `resume_field` takes Last-Event-ID.
//
// Refusals are INVALID_ARGUMENT with a message fit to show to the caller.
// Nothing here does I/O: the fuzz target (test/fuzz) feeds it hostile input.
#pragma once

#include <google/protobuf/message.h>

#include <map>
#include <string>
#include <utility>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/rest/binding.h"

namespace clawos::rest {

struct HttpRequest {
  absl::string_view body;
  // The query's parameters in order: a singular field takes the last value
  // of its name, a repeated field each one.
  const std::vector<std::pair<std::string, std::string>>* query = nullptr;
  absl::string_view last_event_id;
};

absl::Status RequestFromHttp(const Binding& b, const PathTemplate::Bindings& values,
                             const HttpRequest& http, google::protobuf::Message* out);

// What the CLI sends for a request: path (percent-encoded), query string
// (without '?', may be empty) and JSON body (empty when the rule has none).
struct HttpCall {
  std::string verb;
  std::string path;
  std::string query;
  std::string body;
};
absl::StatusOr<HttpCall> RequestToHttp(const Binding& b, const google::protobuf::Message& req);

// A response's JSON for a caller with `access`: fields marked visible_to a
// higher access are cleared first (in nested and repeated messages too), then
// `response_body` is applied. INTERNAL when the message has no JSON form.
absl::StatusOr<std::string> ResponseToJson(const Binding& b, api::v1::Access access,
                                           google::protobuf::Message* resp);
// Clears what `access` may not see (visible_to), recursively.
void ClearHidden(api::v1::Access access, google::protobuf::Message* m);

// The CLI's side: a response (or a stream message) from its JSON. Unknown
// fields are skipped, so a newer server's answers still parse.
absl::Status ResponseFromJson(const Binding& b, absl::string_view json,
                              google::protobuf::Message* out);

// An SSE event of a stream as its message: the data is the message, or with
// `event_oneof` the field the event is named after.
absl::Status StreamMessageFromSse(const Binding& b, absl::string_view event, absl::string_view data,
                                  google::protobuf::Message* out);

}  // namespace clawos::rest
