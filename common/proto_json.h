// Protobuf messages as JSON, the one way every ClawOS surface writes them
// (the CLI's -o json, the control plane's REST API): proto field names,
// enums by name, int64 as strings (protobuf's JSON mapping).
#pragma once

#include <google/protobuf/message.h>

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace clawos {

struct JsonStyle {
  bool pretty = false;
  bool defaults = false;  // print fields at their default value too
};

// INTERNAL naming the message when it has no JSON form (a Timestamp or
// Duration out of range, a string field that is not UTF-8).
absl::StatusOr<std::string> TryToJson(const google::protobuf::Message& m, JsonStyle style = {});
// TryToJson for messages the caller built and knows to be printable; one
// that is not is logged and gives "" (an answer to a client uses TryToJson).
std::string ToJson(const google::protobuf::Message& m, JsonStyle style = {});
// INVALID_ARGUMENT naming what is wrong (unknown field, wrong type, bad JSON),
// in valid UTF-8 whatever the input. With `ignore_unknown`, fields the
// message does not have are skipped (a client reading a newer server).
absl::Status FromJson(std::string_view json, google::protobuf::Message* m,
                      bool ignore_unknown = false);

}  // namespace clawos
