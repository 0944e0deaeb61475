// clawos-identity: Ed25519 JWTs per agent, JWKS, revocation, sealed secrets,
// OIDC exchange. See docs/identity.md.
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "common/config.h"
#include "common/grpc_server.h"
#include "common/log.h"
#include "common/metrics.h"
#include "identity/identity_manager.h"
#include "identity/identity_service.h"

namespace {

using clawos::identity::IdentityConfig;

// Reads a secret from the environment and wipes it there, so child processes
// and /proc/<pid>/environ do not keep it.
std::string TakeEnvSecret(const char* name) {
  char* v = std::getenv(name);
  if (!v) return "";
  std::string out(v);
  std::memset(v, 0, std::strlen(v));
  ::unsetenv(name);
  return out;
}

int Fail(const absl::Status& s) { return clawos::log::StartupFailed(std::string(s.message())); }

int RotateOffline(IdentityConfig config) {
  std::string next_hex = TakeEnvSecret("CLAWOS_NEW_MASTER_KEY");
  auto n = clawos::identity::RotateMasterKeyOffline(std::move(config), next_hex);
  if (!n.ok()) {
    std::cerr << "clawos-identity rotate-master-key: " << n.status().message() << "\n";
    return 1;
  }
  std::cout << "re-sealed " << *n << " records under the new master key\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  clawos::BlockShutdownSignals();
  IdentityConfig config;
  clawos::DaemonOptions daemon;
  daemon.metrics_listen = "127.0.0.1:9082";

  CLI::App app{"clawos-identity: agent tokens (EdDSA JWT), JWKS, revocation, sealed secrets"};
  clawos::AddConfigFileFlag(app);
  clawos::AddDaemonFlags(app, &daemon, "CLAWOS_IDENTITY");
  app.add_option("--state-dir", config.state_dir, "Directory (0700) for identity.db and master.key")
      ->envname("CLAWOS_IDENTITY_STATE_DIR")
      ->capture_default_str();
  app.add_option(
         "--master-key-path", config.master_key.path,
         "Master key file (64 hex, 0600; created if absent). Default <state-dir>/master.key. "
         "CLAWOS_MASTER_KEY (env only) overrides it")
      ->envname("CLAWOS_MASTER_KEY_PATH");
  app.add_option("--issuer", config.issuer.issuer, "The iss claim of issued tokens")
      ->envname("CLAWOS_IDENTITY_ISSUER")
      ->capture_default_str();
  clawos::AddDurationFlag(app, "--default-ttl", &config.issuer.default_ttl,
                          "CLAWOS_IDENTITY_DEFAULT_TTL", "Token lifetime when none is asked for");
  clawos::AddDurationFlag(app, "--max-ttl", &config.issuer.max_ttl, "CLAWOS_IDENTITY_MAX_TTL",
                          "Longest token lifetime that may be issued");
  clawos::AddDurationFlag(app, "--leeway", &config.leeway, "CLAWOS_IDENTITY_LEEWAY",
                          "Clock skew allowed on exp/nbf/iat (at most 5m)");
  clawos::AddDurationFlag(app, "--key-rotation-interval", &config.key_rotation_interval,
                          "CLAWOS_IDENTITY_KEY_ROTATION_INTERVAL",
                          "Age at which the signing key is rotated; 0 disables");
  app.add_option("--oidc-config", config.oidc_config_file,
                 "JSON file of trusted OIDC issuers for token exchange")
      ->envname("CLAWOS_IDENTITY_OIDC_CONFIG");
  auto* rotate =
      app.add_subcommand("rotate-master-key",
                         "Re-seal all state under a new master key (daemon stopped). New key from "
                         "CLAWOS_NEW_MASTER_KEY, or generated into the key file");
  if (auto rc = clawos::ParseFlags(app, argc, argv)) return *rc;

  clawos::log::Init("clawos-identity", daemon.log_level);
  config.master_key.hex = TakeEnvSecret("CLAWOS_MASTER_KEY");
  if (rotate->parsed()) return RotateOffline(std::move(config));
  if (daemon.server.listen.empty()) {
    daemon.server.listen = {"127.0.0.1:2082", "unix:" + config.state_dir + "/identity.sock"};
  }

  auto manager =
      clawos::identity::IdentityManager::Open(std::move(config), clawos::RealClock::Get());
  if (!manager.ok()) return Fail(manager.status());
  (*manager)->StartMaintenance(absl::Minutes(1));
  auto metrics = clawos::Metrics::Start(daemon.metrics_listen);
  if (!metrics.ok()) return Fail(metrics.status());
  clawos::identity::IdentityService service(**manager);
  auto server = clawos::GrpcServer::Start(
      daemon.server, {clawos::Serve<clawos::identity::v1::IdentityService>(&service)},
      metrics->get());
  if (!server.ok()) return Fail(server.status());
  clawos::log::Info("serving", {{"listen", (*server)->bound()},
                                {"metrics_port", (*metrics)->port()},
                                {"state_dir", (*manager)->config().state_dir}});
  int sig = clawos::WaitForShutdownSignal();
  clawos::log::Info("draining", {{"signal", sig}});
  (*server)->Shutdown();
  clawos::log::Info("stopped");
  return 0;
}
