// clawos-monitor: every system call of every agent VM counted in the kernel,
// the sensitive ones detailed, events to a JSONL file, a SIEM (CEF over
// syslog) and gRPC streams. Needs root (CAP_BPF, CAP_PERFMON). See
// docs/monitor.md.
#include <unistd.h>

#include "common/config.h"
#include "common/files.h"
#include "common/grpc_server.h"
#include "common/log.h"
#include "common/metrics.h"
#include "monitor/monitor.h"
#include "monitor/monitor_metrics.h"
#include "monitor/monitor_service.h"

namespace {

int Fail(std::string_view why) { return clawos::log::StartupFailed(why); }

}  // namespace

int main(int argc, char** argv) {
  clawos::BlockShutdownSignals();
  clawos::DaemonOptions daemon;
  daemon.metrics_listen = "127.0.0.1:9083";
  std::string state_dir = "/var/lib/clawos/monitor";
  std::string events = "default";
  std::string policy_path;
  std::string siem_url;
  clawos::monitor::SiemConfig siem_tls;
  size_t siem_queue = 10000;
  uint64_t wakeup_bytes = 256 << 10;
  std::string exit_hooks = "per-call";

  CLI::App app{"clawos-monitor: eBPF system call monitor for agent VMs, with SIEM output"};
  clawos::AddConfigFileFlag(app);
  clawos::AddDaemonFlags(app, &daemon, "CLAWOS_MONITOR");
  app.add_option("--state-dir", state_dir, "Directory (0700) for targets.db and events.jsonl")
      ->envname("CLAWOS_MONITOR_STATE_DIR")
      ->capture_default_str();
  app.add_option("--policy", policy_path, "Policy file (TOML); default: the built-in policy")
      ->envname("CLAWOS_MONITOR_POLICY")
      ->check(CLI::ExistingFile);
  app.add_option("--events-file", events,
                 "JSONL event log (rotated at 256 MiB × 5); \"off\": none; default "
                 "<state>/events.jsonl")
      ->envname("CLAWOS_MONITOR_EVENTS_FILE")
      ->capture_default_str();
  app.add_option("--siem", siem_url, "SIEM: udp://host:port, tcp://host:port or tls://host:port")
      ->envname("CLAWOS_MONITOR_SIEM");
  app.add_option("--siem-ca", siem_tls.ca_file, "TLS: CA file for the SIEM's certificate")
      ->envname("CLAWOS_MONITOR_SIEM_CA")
      ->check(CLI::ExistingFile);
  app.add_option("--siem-cert", siem_tls.cert_file, "TLS: client certificate (PEM chain)")
      ->envname("CLAWOS_MONITOR_SIEM_CERT")
      ->check(CLI::ExistingFile);
  app.add_option("--siem-key", siem_tls.key_file, "TLS: client key (PEM)")
      ->envname("CLAWOS_MONITOR_SIEM_KEY")
      ->check(CLI::ExistingFile);
  app.add_option("--siem-queue", siem_queue,
                 "Events held while the SIEM is unreachable; more are dropped and counted")
      ->envname("CLAWOS_MONITOR_SIEM_QUEUE")
      ->check(CLI::Range(1, 10000000))
      ->capture_default_str();
  app.add_option("--wakeup-bytes", wakeup_bytes,
                 "Ring-buffer bytes pending before the kernel wakes the reader (batching)")
      ->check(CLI::Range(4096, 4 << 20))
      ->capture_default_str();
  app.add_option("--exit-hooks", exit_hooks,
                 "per-call: exit hooks on the detailed calls only (syscalls tracepoints; falls "
                 "back to generic when absent); generic: one exit program for every call")
      ->envname("CLAWOS_MONITOR_EXIT_HOOKS")
      ->check(CLI::IsMember({"per-call", "generic"}))
      ->capture_default_str();
  if (auto rc = clawos::ParseFlags(app, argc, argv)) return *rc;
  clawos::log::Init("clawos-monitor", daemon.log_level);

  clawos::monitor::MonitorOptions o;
  o.state_dir = state_dir;
  if (auto s = clawos::EnsurePrivateDir(state_dir); !s.ok()) return Fail(std::string(s.message()));
  o.events_path = events == "off" ? "" : events == "default" ? state_dir + "/events.jsonl" : events;
  if (!policy_path.empty()) {
    auto p = clawos::monitor::Policy::Load(policy_path);
    if (!p.ok()) return Fail(std::string(p.status().message()));
    o.policy = *p;
  }
  if (!siem_url.empty()) {
    auto c = clawos::monitor::ParseSiemUrl(siem_url);
    if (!c.ok()) return Fail(std::string(c.status().message()));
    c->ca_file = siem_tls.ca_file;
    c->cert_file = siem_tls.cert_file;
    c->key_file = siem_tls.key_file;
    c->max_queue = siem_queue;
    if (c->cert_file.empty() != c->key_file.empty()) {
      return Fail("--siem-cert and --siem-key go together");
    }
    o.siem = *c;
  }
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  o.hostname = host;
  o.wakeup_bytes = wakeup_bytes;
  o.generic_exit = exit_hooks == "generic";
  if (daemon.server.listen.empty()) {
    daemon.server.listen = {"127.0.0.1:2083", "unix:" + state_dir + "/monitor.sock"};
  }
  auto monitor = clawos::monitor::Monitor::Open(o);
  if (!monitor.ok()) return Fail(std::string(monitor.status().message()));
  auto metrics = clawos::Metrics::Start(daemon.metrics_listen);
  if (!metrics.ok()) return Fail(std::string(metrics.status().message()));
  (*metrics)->AddCollectable(std::make_shared<clawos::monitor::MonitorCollector>(**monitor));
  clawos::monitor::MonitorService service(**monitor);
  auto server = clawos::GrpcServer::Start(
      daemon.server, {clawos::Serve<clawos::monitor::v1::MonitorService>(&service)},
      metrics->get());
  if (!server.ok()) return Fail(std::string(server.status().message()));
  clawos::log::Info("serving", {{"listen", (*server)->bound()},
                                {"metrics_port", (*metrics)->port()},
                                {"state_dir", state_dir},
                                {"targets", static_cast<int64_t>((*monitor)->ListTargets().size())},
                                {"siem", siem_url.empty() ? "off" : siem_url},
                                {"exit_hooks", (*monitor)->ExitHooks()},
                                {"events_file", o.events_path.empty() ? "off" : o.events_path}});
  int sig = clawos::WaitForShutdownSignal();
  clawos::log::Info("draining", {{"signal", sig}});
  (*server)->Shutdown();
  (*monitor)->Flush();
  clawos::log::Info("stopped");
  return 0;
}
