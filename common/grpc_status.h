// absl::Status <-> grpc::Status, in one place.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace clawos {

grpc::Status ToGrpcStatus(const absl::Status& s);
absl::Status FromGrpcStatus(const grpc::Status& s);

}  // namespace clawos
