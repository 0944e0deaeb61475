// Lists a server's services through gRPC server reflection (v1alpha) without
// the reflection protos' C++ classes: the request is two hand-encoded bytes
// and the reply's service names are read off the wire format.
#pragma once

#include <grpcpp/channel.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace clawos::testing {

absl::StatusOr<std::vector<std::string>> ReflectionListServices(
    std::shared_ptr<grpc::Channel> channel);

}  // namespace clawos::testing
