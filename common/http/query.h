// The query string of a request target: "path?a=1&b=x%20y" → path and
// decoded parameters. INVALID_ARGUMENT for a bad %-escape.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace clawos::http {

struct Target {
  std::string path;
  std::map<std::string, std::string> query;  // the last value of a repeated name wins
  // Every parameter in order, repeated names included (a repeated field's values).
  std::vector<std::pair<std::string, std::string>> params;
};

absl::StatusOr<Target> ParseTarget(std::string_view target);

}  // namespace clawos::http
