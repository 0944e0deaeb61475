// clawos-controlplane: the operators' REST API over the daemons (launcher,
// identity, inference proxy, monitor), on 127.0.0.1:8080 behind nginx TLS.
// Operator JWTs (admin/viewer) verified locally; admin calls audited. See
// docs/controlplane.md.
#include <thread>

#include <grpcpp/server_builder.h>

#include "common/addresses.h"
#include "common/config.h"
#include "common/files.h"
#include "common/grpc_client.h"
#include "common/http/server.h"
#include "common/log.h"
#include "common/metrics.h"
#include "controlplane/api.h"
#include "controlplane/bootstrap_token.h"
#include "controlplane/event_feeds.h"
#include "controlplane/events_service.h"
#include "controlplane/openapi.h"

namespace {

int Fail(std::string_view why) { return clawos::log::StartupFailed(why); }

}  // namespace

int main(int argc, char** argv) {
  using namespace clawos::controlplane;
  clawos::BlockShutdownSignals();
  std::string listen = "127.0.0.1:8080";
  std::string state_dir = "/var/lib/clawos/controlplane";
  std::string identity_addr = clawos::kDefaultIdentityAddr;
  std::string launcher_addr = clawos::kDefaultLauncherAddr;
  std::string proxy_addr = clawos::kDefaultProxyAdminAddr;
  std::string monitor_addr = clawos::kDefaultMonitorAddr;
  std::string orchestrator_addr = clawos::kDefaultOrchestratorAddr;
  std::string issuer = "clawos-identity";
  std::string log_level = "info";
  size_t max_body = 1 << 20;
  ApiOptions api;
  absl::Duration token_ttl = absl::Hours(24);

  CLI::App app{"clawos-controlplane: the REST API over the ClawOS daemons"};
  clawos::AddConfigFileFlag(app);
  app.add_option("--listen", listen, "HTTP listen address host:port (put nginx TLS in front)")
      ->envname("CLAWOS_CONTROLPLANE_LISTEN")
      ->capture_default_str();
  app.add_option("--state-dir", state_dir, "Directory (0700) for admin.token and audit.jsonl")
      ->envname("CLAWOS_CONTROLPLANE_STATE_DIR")
      ->capture_default_str();
  app.add_option("--identity", identity_addr, "clawos-identity (trusted transport)")
      ->envname("CLAWOS_IDENTITY_ADDR")
      ->capture_default_str();
  app.add_option("--launcher", launcher_addr, "clawos-vm-launcher (trusted transport)")
      ->envname("CLAWOS_LAUNCHER_ADDR")
      ->capture_default_str();
  app.add_option("--proxy-admin", proxy_addr, "clawos-inference-proxy's admin gRPC")
      ->envname("CLAWOS_PROXY_ADMIN_ADDR")
      ->capture_default_str();
  app.add_option("--monitor", monitor_addr, "clawos-monitor; \"off\": no alerts in /v1/events")
      ->envname("CLAWOS_MONITOR_ADDR")
      ->capture_default_str();
  app.add_option("--orchestrator", orchestrator_addr,
                 "clawos-orchestrator; \"off\": /v1/workflows answers 503")
      ->envname("CLAWOS_ORCHESTRATOR_ADDR")
      ->capture_default_str();
  app.add_option("--issuer", issuer, "The iss operator tokens must carry")
      ->envname("CLAWOS_IDENTITY_ISSUER")
      ->capture_default_str();
  app.add_option("--max-body", max_body, "Largest request body in bytes")
      ->envname("CLAWOS_CONTROLPLANE_MAX_BODY")
      ->check(CLI::Range(size_t{1024}, size_t{64} << 20))
      ->capture_default_str();
  clawos::AddDurationFlag(app, "--sse-keepalive", &api.keepalive,
                          "CLAWOS_CONTROLPLANE_SSE_KEEPALIVE",
                          "Comment sent on idle SSE streams this often");
  clawos::AddDurationFlag(app, "--stream-recheck", &api.recheck,
                          "CLAWOS_CONTROLPLANE_STREAM_RECHECK",
                          "Open streams re-check the caller's token this often, busy or idle");
  app.add_option("--max-streams", api.streams.max_streams,
                 "Open streams (events, logs, exec) at most, below the listener's 512 connections")
      ->envname("CLAWOS_CONTROLPLANE_MAX_STREAMS")
      ->capture_default_str();
  app.add_option("--max-viewer-streams", api.streams.max_viewer_streams,
                 "Of those, held by viewers at most (the rest is the admins')")
      ->envname("CLAWOS_CONTROLPLANE_MAX_VIEWER_STREAMS")
      ->capture_default_str();
  app.add_option("--max-streams-per-viewer", api.streams.max_streams_per_viewer,
                 "Open streams of one viewer subject at most")
      ->envname("CLAWOS_CONTROLPLANE_MAX_STREAMS_PER_VIEWER")
      ->capture_default_str();
  clawos::AddDurationFlag(app, "--admin-token-ttl", &token_ttl,
                          "CLAWOS_CONTROLPLANE_ADMIN_TOKEN_TTL",
                          "Lifetime of the bootstrap admin token (at most identity's --max-ttl)");
  app.add_option("--log-level", log_level, "debug, info, warn, error")
      ->envname("CLAWOS_CONTROLPLANE_LOG_LEVEL")
      ->capture_default_str();
  if (auto rc = clawos::ParseFlags(app, argc, argv)) return *rc;
  clawos::log::Init("clawos-controlplane", log_level);

  clawos::http::ServerOptions o;
  if (auto s = ValidateStreamLimits(api.streams, o.max_connections); !s.ok()) {
    return Fail(std::string(s.message()));
  }
  if (api.recheck <= absl::ZeroDuration() || api.recheck > absl::Minutes(1)) {
    return Fail("--stream-recheck must be more than 0 and at most 1m");
  }
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return Fail("--listen must be host:port");
  o.host = listen.substr(0, colon);
  o.port = std::atoi(listen.substr(colon + 1).c_str());
  if (auto s = clawos::EnsurePrivateDir(state_dir); !s.ok()) return Fail(std::string(s.message()));
  Backends b;
  auto channel = [](const std::string& addr) { return clawos::MakeChannel(addr); };
  auto lc = channel(launcher_addr);
  auto ic = channel(identity_addr);
  auto pc = channel(proxy_addr);
  if (!lc.ok()) return Fail(std::string(lc.status().message()));
  if (!ic.ok()) return Fail(std::string(ic.status().message()));
  if (!pc.ok()) return Fail(std::string(pc.status().message()));
  b.launcher = clawos::launcher::v1::LauncherService::NewStub(*lc);
  b.identity = clawos::identity::v1::IdentityService::NewStub(*ic);
  b.proxy = clawos::proxy::v1::ProxyAdminService::NewStub(*pc);
  b.channels["clawos.launcher.v1.LauncherService"] = *lc;
  b.channels["clawos.identity.v1.IdentityService"] = *ic;
  b.channels["clawos.proxy.v1.ProxyAdminService"] = *pc;
  if (!monitor_addr.empty() && monitor_addr != "off") {
    auto mc = channel(monitor_addr);
    if (!mc.ok()) return Fail(std::string(mc.status().message()));
    b.monitor = clawos::monitor::v1::MonitorService::NewStub(*mc);
    b.channels["clawos.monitor.v1.MonitorService"] = *mc;
  }
  if (!orchestrator_addr.empty() && orchestrator_addr != "off") {
    auto oc = channel(orchestrator_addr);
    if (!oc.ok()) return Fail(std::string(oc.status().message()));
    b.orchestrator = clawos::orchestrator::v1::OrchestratorService::NewStub(*oc);
    b.channels["clawos.orchestrator.v1.OrchestratorService"] = *oc;
  }

  clawos::identity::VerifierConfig verifier;
  verifier.issuer = issuer;
  clawos::identity::RemoteVerifier tokens(clawos::identity::IdentityKeySource(identity_addr),
                                          verifier, kAudience, clawos::RealClock::Get());
  if (auto s = tokens.Refresh(); !s.ok()) return Fail(std::string(s.message()));
  tokens.StartRefresh();
  const std::string token_path = state_dir + "/admin.token";
  auto wrote = EnsureAdminToken(*b.identity, token_path, token_ttl);
  if (!wrote.ok()) return Fail(std::string(wrote.status().message()));

  auto audit = clawos::RotatingFile::Open(state_dir + "/audit.jsonl", 64 << 20, 5);
  if (!audit.ok()) return Fail(std::string(audit.status().message()));
  auto metrics = clawos::Metrics::Start("off");
  if (!metrics.ok()) return Fail(std::string(metrics.status().message()));
  api.openapi_json = OpenApiJson();
  clawos::Metrics* m = metrics->get();
  api.metrics_text = [m] { return m->Text(); };
  // What the control plane serves itself (the fleet's events), in process,
  // reached through the same transcoder as the daemons.
  FleetHub hub;
  EventsService events(hub);
  grpc::ServerBuilder own;
  own.RegisterService(&events);
  std::unique_ptr<grpc::Server> own_server = own.BuildAndStart();
  if (!own_server) return Fail("cannot start the in-process gRPC server");
  b.channels["clawos.controlplane.v1.ControlPlaneService"] =
      own_server->InProcessChannel(grpc::ChannelArguments());
  OperatorAuth auth(tokens, IsLoopbackHost(o.host));
  auto handler = Api::Create(b, auth, audit->get(), &m->registry(), api);
  if (!handler.ok()) return Fail(std::string(handler.status().message()));
  EventFeeds feeds(b, hub);

  o.max_body_bytes = max_body;
  o.io_timeout = absl::Minutes(10);  // long :start and :exec calls
  auto server = clawos::http::Server::Start(o, **handler);
  if (!server.ok()) return Fail(std::string(server.status().message()));

  // Renews the bootstrap token while it runs (identity caps lifetimes).
  std::atomic<bool> stop{false};
  std::thread renew([&] {
    while (!stop) {
      for (int i = 0; i < 600 && !stop; ++i) absl::SleepFor(absl::Milliseconds(100));
      if (stop) break;
      auto r = EnsureAdminToken(*b.identity, token_path, token_ttl);
      if (!r.ok())
        clawos::log::Warn("renewing admin.token", {{"error", std::string(r.status().message())}});
    }
  });
  clawos::log::Info("serving",
                    {{"listen", o.host + ":" + std::to_string((*server)->port())},
                     {"state_dir", state_dir},
                     {"admin_token", token_path},
                     {"admin_token_new", *wrote},
                     {"monitor", b.monitor ? monitor_addr : "off"},
                     {"orchestrator", b.orchestrator ? orchestrator_addr : "off"},
                     {"metrics", IsLoopbackHost(o.host) ? "loopback, or a token" : "a token"}});
  int sig = clawos::WaitForShutdownSignal();
  clawos::log::Info("draining", {{"signal", sig}});
  stop = true;
  hub.Close();
  (*handler)->Shutdown();
  (*server)->Stop();
  own_server->Shutdown();
  renew.join();
  clawos::log::Info("stopped");
  return 0;
}
