// What every daemon's gRPC methods need besides their logic, written once and
// driven by the methods' options in the protos (proto/clawos/api/v1/options.proto):
//
//  - the request id: `x-request-id` read from the caller (or made), echoed in
//    the initial metadata and set for the handler's thread (request_id.h);
//  - the trusted-transport check: a method marked
//    `(clawos.api.v1.trusted_transport_only)` answers PERMISSION_DENIED to a
//    peer that is neither on the unix socket nor mTLS, before its handler runs;
//  - metrics: grpc_server_handled_total{grpc_method,grpc_code} and
//    grpc_server_handling_seconds{grpc_method};
//  - audit: one log line per call of a method whose access is ADMIN (every
//    change), with its peer, outcome and duration.
//
// gRPC 1.51's server interceptors cannot end a synchronous call before its
// handler runs (decision 62), so the first two are a decorator around each
// method's handler (GuardedServices); the last two are a server interceptor,
// which sees the status the handler sent. GrpcServer::Start applies both.
#pragma once

#include <grpcpp/impl/service_type.h>
#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace clawos {

class Metrics;

// A service implementation and the full name of the proto service it serves
// ("clawos.vm.v1.VmLauncher"), which finds its methods' options.
struct ServedService {
  grpc::Service* service = nullptr;
  std::string name;
};

// ServedService for a generated service class: Serve<pb::VmLauncher>(&impl).
template <class Grpc>
ServedService Serve(typename Grpc::Service* impl) {
  return {impl, Grpc::service_full_name()};
}

// What the options say about one method ("/pkg.Service/Method").
struct MethodPolicy {
  bool trusted_transport_only = false;
  bool audited = false;  // access ADMIN
};

// Services that run `served`'s handlers behind the request id and the
// trusted-transport check; they register in place of the originals, which
// must outlive them. INVALID_ARGUMENT for a service the generated descriptor
// pool does not know, or one with asynchronous or generic methods.
absl::StatusOr<std::vector<std::unique_ptr<grpc::Service>>> GuardedServices(
    const std::vector<ServedService>& served);

// The policy of a method of a service in the generated pool; default for
// anything else (health, reflection).
MethodPolicy PolicyOf(const std::string& method_path);

// The server interceptor factory for metrics (when `metrics` is not null)
// and audit.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> CallInterceptorFactory(
    Metrics* metrics);

}  // namespace clawos
