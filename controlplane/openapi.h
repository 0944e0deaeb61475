// The OpenAPI 3 document of the REST API (controlplane/openapi.json, kept by
// hand and embedded at build time; a test checks it against the routes).
#pragma once

#include <string>

namespace clawos::controlplane {

const std::string& OpenApiJson();

}  // namespace clawos::controlplane
