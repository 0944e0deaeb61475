// clawos-orchestrator: multi-agent workflows in launcher VMs, resumable after a
// crash. See docs/orchestrator.md.
#include "common/addresses.h"
#include "common/config.h"
#include "common/files.h"
#include "common/grpc_client.h"
#include "common/grpc_server.h"
#include "common/log.h"
#include "common/metrics.h"
#include "orchestrator/agent_limits.h"
#include "orchestrator/engine.h"
#include "orchestrator/launcher_ops.h"
#include "orchestrator/orchestrator_metrics.h"
#include "orchestrator/orchestrator_service.h"
#include "orchestrator/store.h"

namespace {

int Fail(const absl::Status& s) { return clawos::log::StartupFailed(std::string(s.message())); }

}  // namespace

int main(int argc, char** argv) {
  using namespace clawos::orchestrator;
  clawos::BlockShutdownSignals();
  clawos::DaemonOptions daemon;
  daemon.metrics_listen = "127.0.0.1:9081";
  std::string state_dir = "/var/lib/clawos/orchestrator";
  std::string launcher = clawos::kDefaultLauncherAddr;
  std::string proxy_admin = clawos::kDefaultProxyAdminAddr;
  EngineOptions options;

  CLI::App app{"clawos-orchestrator: multi-agent workflows in microVMs"};
  clawos::AddConfigFileFlag(app);
  clawos::AddDaemonFlags(app, &daemon, "CLAWOS_ORCHESTRATOR");
  app.add_option("--state-dir", state_dir,
                 "Directory (0700) for orchestrator.db and orchestrator.sock")
      ->envname("CLAWOS_ORCHESTRATOR_STATE_DIR")
      ->capture_default_str();
  app.add_option("--launcher", launcher, "clawos-vm-launcher address (unix:/path or host:port)")
      ->envname("CLAWOS_LAUNCHER_ADDR")
      ->capture_default_str();
  app.add_option("--proxy-admin", proxy_admin,
                 "clawos-inference-proxy admin address, for agents' limits; \"off\" to run without")
      ->envname("CLAWOS_PROXY_ADMIN_ADDR")
      ->capture_default_str();
  app.add_option("--max-unfinished", options.max_unfinished, "Unfinished workflows at once")
      ->envname("CLAWOS_ORCHESTRATOR_MAX_UNFINISHED")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  if (auto rc = clawos::ParseFlags(app, argc, argv)) return *rc;

  clawos::log::Init("clawos-orchestrator", daemon.log_level);
  if (daemon.server.listen.empty()) {
    daemon.server.listen = {"127.0.0.1:2081", "unix:" + state_dir + "/orchestrator.sock"};
  }
  if (auto s = clawos::EnsurePrivateDir(state_dir); !s.ok()) return Fail(s);
  auto store = Store::Open(state_dir + "/orchestrator.db");
  if (!store.ok()) return Fail(store.status());
  auto launcher_channel = clawos::MakeChannel(launcher);
  if (!launcher_channel.ok()) return Fail(launcher_channel.status());
  auto ops = MakeGrpcLauncherOps(*launcher_channel);
  std::unique_ptr<LimitSetter> limits;
  if (proxy_admin != "off") {
    auto ch = clawos::MakeChannel(proxy_admin);
    if (!ch.ok()) return Fail(ch.status());
    limits = MakeProxyLimitSetter(*ch);
  }
  auto metrics = clawos::Metrics::Start(daemon.metrics_listen);
  if (!metrics.ok()) return Fail(metrics.status());
  OrchestratorMetrics families((*metrics)->registry());
  Engine engine(**store, *ops, limits.get(), options, &families);
  if (auto s = engine.Resume(); !s.ok()) return Fail(s);

  OrchestratorService service(engine);
  auto server = clawos::GrpcServer::Start(
      daemon.server, {clawos::Serve<clawos::orchestrator::v1::OrchestratorService>(&service)},
      metrics->get());
  if (!server.ok()) return Fail(server.status());
  clawos::log::Info("serving", {{"listen", (*server)->bound()},
                                {"metrics_port", (*metrics)->port()},
                                {"state_dir", state_dir},
                                {"launcher", launcher},
                                {"resumed", engine.active()}});
  int sig = clawos::WaitForShutdownSignal();
  clawos::log::Info("draining", {{"signal", sig}});
  (*server)->Shutdown();
  engine.Shutdown();
  clawos::log::Info("stopped");
  return 0;
}
