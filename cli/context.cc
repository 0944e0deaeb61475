#include "cli/context.h"

#include <iterator>

#include "absl/status/status.h"
#include "common/proto_json.h"

namespace clawos::cli {

int ReportError(const std::string& what, const absl::Status& s) {
  std::cerr << "clawos: " << what << ": " << absl::StatusCodeToString(s.code()) << ": "
            << s.message() << "\n";
  return 1;
}

std::string ToJson(const google::protobuf::Message& m) {
  return clawos::ToJson(m, {.pretty = true});
}

void PrintJson(const nlohmann::json& j) { std::cout << j.dump(2) << "\n"; }

std::string ReadStdin() {
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

}  // namespace clawos::cli
