// The OpenAPI 3 document of the REST API, generated at build time from the
// protos (openapi_doc.h, clawos-openapi-gen) and embedded.
#pragma once

#include <string>

namespace clawos::controlplane {

const std::string& OpenApiJson();

}  // namespace clawos::controlplane
