// gRPC server bootstrap shared by every daemon: unix-socket and TCP listeners,
// grpc.health.v1.Health, reflection, optional TLS/mTLS, the interceptors of
// grpc_interceptors.h (request id, trusted transport, metrics, audit),
// and graceful drain on SIGTERM/SIGINT.
#pragma once

#include <grpcpp/server.h>
#include <grpcpp/server_context.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/grpc_interceptors.h"
#include "common/metrics.h"

namespace clawos {

struct ServerOptions {
  // "unix:/path/x.sock" or "host:port" (port 0 picks one).
  std::vector<std::string> listen;
  // TLS for TCP listeners when cert and key are set; with client_ca, clients
  // must present a certificate signed by it (mTLS). Unix sockets stay plaintext.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  // Mode of created unix sockets.
  unsigned socket_mode = 0600;
  absl::Duration drain_timeout = absl::Seconds(10);
};

class GrpcServer {
 public:
  // Builds and starts the server with each service behind the interceptors
  // of grpc_interceptors.h. `metrics` may be null.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(
      const ServerOptions& options, const std::vector<ServedService>& services, Metrics* metrics);
  ~GrpcServer();

  // The address each TCP listener bound to, e.g. "127.0.0.1:41234", in the
  // order of options.listen (unix listeners are reported as given).
  const std::vector<std::string>& bound() const { return bound_; }
  // Stops accepting, lets in-flight RPCs finish until the drain deadline.
  void Shutdown();
  grpc::Server* server() { return server_.get(); }

 private:
  std::vector<std::unique_ptr<grpc::Service>> guarded_;  // outlive server_
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::string> bound_;
  std::vector<std::string> unix_paths_;
  absl::Duration drain_timeout_;
  bool shut_down_ = false;
};

// Call first in main(), before any thread starts: blocks SIGTERM/SIGINT in
// all threads so WaitForShutdownSignal() receives them, ignores SIGPIPE, and
// turns off absl::Mutex's deadlock detection (a debug aid, costly per call).
void BlockShutdownSignals();
// Blocks until SIGTERM or SIGINT; returns the signal number.
int WaitForShutdownSignal();

// True when the caller came over a unix socket (guarded by its file mode) or
// over TLS with a client certificate our CA verified.
bool IsTrustedPeer(const grpc::ServerContext& ctx);

}  // namespace clawos
