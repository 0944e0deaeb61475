// Test helper: checks request bodies against a Swagger 2.0 (OpenAPI) spec,
// e.g. Firecracker's firecracker-api.yaml converted to JSON. The subset the
// spec uses: $ref into definitions, object (required, properties; unknown
// properties are errors, as Firecracker rejects them), string (enum),
// integer (minimum, maximum), number, boolean, array (items).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"

namespace clawos::testing {

class SwaggerSpec {
 public:
  explicit SwaggerSpec(nlohmann::json spec) : spec_(std::move(spec)) {}
  // NOT_FOUND when the spec has no such operation; INVALID_ARGUMENT naming
  // the first field that does not conform.
  absl::Status CheckRequest(const std::string& method, const std::string& path,
                            const nlohmann::json& body) const;

 private:
  absl::Status Check(const nlohmann::json& schema, const nlohmann::json& v,
                     const std::string& where) const;
  const nlohmann::json& Resolve(const nlohmann::json& schema) const;
  nlohmann::json spec_;
};

}  // namespace clawos::testing
