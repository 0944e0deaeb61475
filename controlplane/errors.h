// Errors as the REST API answers them: the HTTP status grpc-gateway gives a
// gRPC code, and the body {"code": <gRPC code>, "message": "...",
// "details": [...]}.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace clawos::controlplane {

int HttpStatus(absl::StatusCode code);
std::string ErrorBody(const absl::Status& status);

}  // namespace clawos::controlplane
