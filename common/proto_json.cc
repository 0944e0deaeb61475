#include "common/proto_json.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/utf8.h"

namespace clawos {

absl::StatusOr<std::string> TryToJson(const google::protobuf::Message& m, JsonStyle style) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  o.add_whitespace = style.pretty;
  o.always_print_primitive_fields = style.defaults;
  auto s = google::protobuf::util::MessageToJsonString(m, &out, o);
  if (!s.ok()) {
    return absl::InternalError(absl::StrCat("a ", m.GetDescriptor()->name(), " with no JSON form: ",
                                            ToValidUtf8(std::string(s.message()))));
  }
  return out;
}

std::string ToJson(const google::protobuf::Message& m, JsonStyle style) {
  auto json = TryToJson(m, style);
  if (json.ok()) return *std::move(json);
  log::Error("no JSON form", {{"error", std::string(json.status().message())}});
  return "";
}

absl::Status FromJson(std::string_view json, google::protobuf::Message* m, bool ignore_unknown) {
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = ignore_unknown;
  auto s = google::protobuf::util::JsonStringToMessage(std::string(json), m, o);
  if (!s.ok()) {
    // protobuf quotes the input, which may not be UTF-8.
    return absl::InvalidArgumentError(absl::StrCat("the body is not a valid ",
                                                   m->GetDescriptor()->name(), ": ",
                                                   ToValidUtf8(std::string(s.message()))));
  }
  return absl::OkStatus();
}

}  // namespace clawos
