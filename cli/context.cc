#include "cli/context.h"

#include <google/protobuf/util/json_util.h>

#include <iterator>

#include "absl/status/status.h"

namespace clawos::cli {

int ReportError(const std::string& what, const absl::Status& s) {
  std::cerr << "clawos: " << what << ": " << absl::StatusCodeToString(s.code()) << ": "
            << s.message() << "\n";
  return 1;
}

std::string ToJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  o.add_whitespace = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

void PrintJson(const nlohmann::json& j) { std::cout << j.dump(2) << "\n"; }

std::string ReadStdin() {
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

}  // namespace clawos::cli
