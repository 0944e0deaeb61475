// The OpenAPI 3.0 document of the REST API, made from the same bindings the
// transcoder serves (common/rest/binding.h over RestServices()) with the
// protos' comments as descriptions. clawos-openapi-gen writes it at build
// time from the descriptor set protoc made with --include_source_info; the
// control plane embeds it and serves it at /v1/openapi.json.
#pragma once

#include <google/protobuf/descriptor.pb.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/rest/binding.h"

namespace clawos::controlplane {

// `comments`: the descriptor set with source info (no descriptions when it
// has none). INVALID_ARGUMENT when a binding cannot be documented.
absl::StatusOr<std::string> OpenApiDocument(
    const std::vector<const google::protobuf::ServiceDescriptor*>& services,
    const google::protobuf::FileDescriptorSet& comments);

}  // namespace clawos::controlplane
