#include "common/grpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/files.h"
#include "common/log.h"

namespace clawos {
namespace {

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TcpCredentials(const ServerOptions& o) {
  if (o.tls_cert_file.empty() && o.tls_key_file.empty()) {
    if (!o.tls_client_ca_file.empty()) {
      return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key");
    }
    return grpc::InsecureServerCredentials();
  }
  if (o.tls_cert_file.empty() || o.tls_key_file.empty()) {
    return absl::InvalidArgumentError("TLS needs both --tls-cert and --tls-key");
  }
  auto cert = ReadFile(o.tls_cert_file);
  if (!cert.ok()) return cert.status();
  auto key = ReadFile(o.tls_key_file);
  if (!key.ok()) return key.status();
  if (auto s = CheckPrivateFile(o.tls_key_file); !s.ok()) return s;
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  if (!o.tls_client_ca_file.empty()) {
    auto ca = ReadFile(o.tls_client_ca_file);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(
    const ServerOptions& options, const std::vector<ServedService>& services, Metrics* metrics) {
  if (options.listen.empty()) return absl::InvalidArgumentError("no --listen address given");
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  std::unique_ptr<GrpcServer> out(new GrpcServer);
  out->drain_timeout_ = options.drain_timeout;
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(8 << 20);
  auto tcp_creds = TcpCredentials(options);
  if (!tcp_creds.ok()) return tcp_creds.status();

  std::vector<std::unique_ptr<int>> ports;
  for (const std::string& addr : options.listen) {
    if (absl::StartsWith(addr, "unix:")) {
      std::string path = addr.substr(5);
      if (path.empty() || path[0] != '/') {
        return absl::InvalidArgumentError(
            absl::StrCat("listen address \"", addr, "\" needs an absolute path: unix:/path"));
      }
      struct stat st {};
      if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
          return absl::FailedPreconditionError(
              absl::StrCat(path, " exists and is not a socket; refusing to replace it"));
        }
        ::unlink(path.c_str());  // stale socket from an earlier run
      }
      size_t slash = path.find_last_of('/');
      if (slash > 0) {
        if (auto s = MakeDirs(path.substr(0, slash)); !s.ok()) return s;
      }
      out->unix_paths_.push_back(path);
      builder.AddListeningPort(addr, grpc::InsecureServerCredentials());
      ports.push_back(nullptr);
    } else {
      if (addr.find(':') == std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("listen address \"", addr, "\" is neither unix:/path nor host:port"));
      }
      ports.push_back(std::make_unique<int>(0));
      builder.AddListeningPort(addr, *tcp_creds, ports.back().get());
    }
  }
  auto guarded = GuardedServices(services);
  if (!guarded.ok()) return guarded.status();
  out->guarded_ = std::move(*guarded);
  for (auto& s : out->guarded_) builder.RegisterService(s.get());
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> f;
  f.push_back(CallInterceptorFactory(metrics));
  builder.experimental().SetInterceptorCreators(std::move(f));
  // Sockets are created under a tight umask, then set to the asked mode.
  mode_t old_umask = ::umask(0177);
  out->server_ = builder.BuildAndStart();
  ::umask(old_umask);
  if (!out->server_) {
    return absl::UnavailableError(absl::StrCat("could not listen on ",
                                               absl::StrJoin(options.listen, ", "),
                                               " (address in use, or no permission?)"));
  }
  for (const std::string& p : out->unix_paths_) ::chmod(p.c_str(), options.socket_mode);
  for (size_t i = 0; i < options.listen.size(); ++i) {
    const std::string& addr = options.listen[i];
    if (!ports[i]) {
      out->bound_.push_back(addr);
      continue;
    }
    if (*ports[i] == 0) {
      return absl::UnavailableError(absl::StrCat("could not listen on ", addr));
    }
    out->bound_.push_back(absl::StrCat(addr.substr(0, addr.rfind(':')), ":", *ports[i]));
  }
  auto* health = out->server_->GetHealthCheckService();
  if (health) health->SetServingStatus(true);
  return out;
}

GrpcServer::~GrpcServer() { Shutdown(); }

void GrpcServer::Shutdown() {
  if (shut_down_ || !server_) return;
  shut_down_ = true;
  if (auto* health = server_->GetHealthCheckService()) health->SetServingStatus(false);
  auto deadline = std::chrono::system_clock::now() +
                  std::chrono::milliseconds(absl::ToInt64Milliseconds(drain_timeout_));
  server_->Shutdown(deadline);
  server_->Wait();
  for (const std::string& p : unix_paths_) ::unlink(p.c_str());
}

void BlockShutdownSignals() {
  // Debian's Abseil is built with absl::Mutex's deadlock detection on (a
  // debug aid): every lock of gRPC's mutexes walked its graph, 6% of the
  // control plane's time per REST call.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

int WaitForShutdownSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

bool IsTrustedPeer(const grpc::ServerContext& ctx) {
  if (absl::StartsWith(ctx.peer(), "unix:")) return true;
  auto auth = ctx.auth_context();
  return auth && auth->IsPeerAuthenticated();
}

}  // namespace clawos
