// clawos-vm-launcher: verified microVMs, one agent each, with an agent
// channel and state that survives restarts. See docs/vm-launcher.md.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "common/config.h"
#include "common/grpc_server.h"
#include "common/log.h"
#include "common/metrics.h"
#include "image/signing.h"
#include "vm-launcher/agent_tokens.h"
#include "vm-launcher/inference_tunnel.h"
#include "vm-launcher/launcher.h"
#include "vm-launcher/launcher_service.h"
#include "vm-launcher/monitor_registrar.h"
#include "vm-launcher/qemu_command.h"

namespace {

int Fail(std::string_view why) { return clawos::log::StartupFailed(why); }

}  // namespace

int main(int argc, char** argv) {
  clawos::BlockShutdownSignals();
  clawos::launcher::LauncherConfig config;
  clawos::DaemonOptions daemon;
  daemon.metrics_listen = "127.0.0.1:9080";
  std::string backend = "qemu";
  std::string proxy_url;
  std::string identity_addr = "unix:/var/lib/clawos/identity/identity.sock";
  absl::Duration token_ttl = absl::Minutes(15);
  std::string accel = "auto";
  std::string monitor_addr;

  CLI::App app{"clawos-vm-launcher: signed, dm-verity-sealed microVMs, one agent each"};
  clawos::AddConfigFileFlag(app);
  clawos::AddDaemonFlags(app, &daemon, "CLAWOS_LAUNCHER");
  app.add_option("--state-dir", config.state_dir,
                 "Directory (0700) for launcher.db, images.db and per-VM disks")
      ->envname("CLAWOS_LAUNCHER_STATE_DIR")
      ->capture_default_str();
  app.add_option("--backend", backend, "VMM backend: qemu or firecracker")
      ->envname("CLAWOS_LAUNCHER_BACKEND")
      ->check(CLI::IsMember({"qemu", "firecracker"}))
      ->capture_default_str();
  app.add_option("--accel", accel, "QEMU accelerator: auto (KVM when usable), kvm or tcg")
      ->envname("CLAWOS_LAUNCHER_ACCEL")
      ->check(CLI::IsMember({"auto", "kvm", "tcg"}))
      ->capture_default_str();
  app.add_option("--monitor", monitor_addr,
                 "clawos-monitor address (unix:/path): every VM's cgroup is watched before its "
                 "VMM starts, and a VM the monitor cannot watch does not start; empty: none")
      ->envname("CLAWOS_MONITOR_ADDR");
  app.add_option("--cgroup-parent", config.cgroup_parent,
                 "cgroup under which each VM gets its own (<root>/<parent>/<vm>)")
      ->envname("CLAWOS_LAUNCHER_CGROUP_PARENT")
      ->capture_default_str();
  app.add_option("--max-vms", config.max_vms, "Most VMs the launcher holds (created or running)")
      ->envname("CLAWOS_LAUNCHER_MAX_VMS")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--min-available-mib", config.min_available_mib,
                 "Refuse a start that would leave less MemAvailable than this; 0 disables")
      ->envname("CLAWOS_LAUNCHER_MIN_AVAILABLE_MIB")
      ->capture_default_str();
  clawos::AddDurationFlag(app, "--ready-timeout", &config.ready_timeout,
                          "CLAWOS_LAUNCHER_READY_TIMEOUT",
                          "How long a start waits for the guest agent's handshake");
  clawos::AddDurationFlag(
      app, "--idle-timeout", &config.idle_timeout, "CLAWOS_LAUNCHER_IDLE_TIMEOUT",
      "Stop a VM without exec, file or inference traffic for this long; 0: off");
  clawos::AddDurationFlag(app, "--health-interval", &config.health_interval,
                          "CLAWOS_LAUNCHER_HEALTH_INTERVAL",
                          "Ping each running agent this often (three misses fail the VM)");
  app.add_option("--max-guest-streams-per-vm", config.max_guest_streams_per_vm,
                 "Streams (inference requests) one VM may have open at once; more are refused")
      ->envname("CLAWOS_LAUNCHER_MAX_GUEST_STREAMS_PER_VM")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--max-guest-streams", config.max_guest_streams,
                 "Streams all VMs together may have open at once (each holds a thread)")
      ->envname("CLAWOS_LAUNCHER_MAX_GUEST_STREAMS")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  app.add_option("--inference-proxy-url", proxy_url,
                 "http://host:port of clawos-inference-proxy; the guests' 127.0.0.1:11435 is "
                 "tunnelled there with each VM's own token. Empty: no tunnel")
      ->envname("CLAWOS_INFERENCE_PROXY_URL");
  app.add_option("--identity", identity_addr,
                 "clawos-identity address that issues the VMs' tokens (trusted transport)")
      ->envname("CLAWOS_IDENTITY_ADDR")
      ->capture_default_str();
  clawos::launcher::BridgeConfig bridge;
  std::string bridge_name;
  app.add_option("--bridge", bridge_name,
                 "Bridge for VMs in BRIDGE network mode (e.g. clawbr0); empty: BRIDGE is refused")
      ->envname("CLAWOS_LAUNCHER_BRIDGE");
  app.add_option("--bridge-subnet", bridge.subnet, "The bridge's /24 (first three octets)")
      ->envname("CLAWOS_LAUNCHER_BRIDGE_SUBNET")
      ->capture_default_str();
  app.add_option("--bridge-allow-port", bridge.allowed_host_port,
                 "The one host TCP port BRIDGE VMs may reach (the inference proxy)")
      ->envname("CLAWOS_LAUNCHER_BRIDGE_ALLOW_PORT")
      ->capture_default_str();
  std::string jail = "on";
  app.add_option("--jail", jail,
                 "Start every VMM in its own jail (own uid, namespaces, no capabilities, "
                 "Landlock, seccomp); off is for debugging only: QEMU then runs as root")
      ->envname("CLAWOS_LAUNCHER_JAIL")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_option("--jailer", config.jailer, "clawos-jailer; empty: beside this program")
      ->envname("CLAWOS_LAUNCHER_JAILER");
  std::string uid_range = "200000-265535";
  app.add_option("--jail-uid-range", uid_range,
                 "FIRST-LAST: the uids (and gids) VMMs run as, one per VM, used by nothing else")
      ->envname("CLAWOS_LAUNCHER_JAIL_UID_RANGE")
      ->capture_default_str();
  std::string templates = "on";
  app.add_option("--templates", templates,
                 "Restore VMs from templates of their image and shape (made on a shape's first "
                 "start; BRIDGE VMs and `vm start --cold` boot); off: every start boots")
      ->envname("CLAWOS_LAUNCHER_TEMPLATES")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  clawos::AddDurationFlag(app, "--token-ttl", &token_ttl, "CLAWOS_LAUNCHER_TOKEN_TTL",
                          "Lifetime of the VMs' tokens (refreshed at two thirds)");
  if (auto rc = clawos::ParseFlags(app, argc, argv)) return *rc;
  clawos::log::Init("clawos-vm-launcher", daemon.log_level);

  if (backend == "firecracker") {
    bool kvm = ::access("/dev/kvm", R_OK | W_OK) == 0;
    return Fail(std::string("the firecracker backend is not available in this build") +
                (kvm ? "" : " (and this host has no usable /dev/kvm)") +
                "; use --backend qemu. See docs/vm-launcher.md");
  }
  config.jail = jail == "on";
  config.templates = templates == "on";
  if (unsigned first = 0, last = 0;
      std::sscanf(uid_range.c_str(), "%u-%u", &first, &last) != 2 || first == 0 || first > last) {
    return Fail("--jail-uid-range must be FIRST-LAST with 0 < FIRST <= LAST, e.g. 200000-265535");
  } else {
    config.jail_uid_first = first;
    config.jail_uid_last = last;
  }
  if (!bridge_name.empty()) {
    bridge.bridge = bridge_name;
    config.bridge = bridge;
  }
  std::string accel_why = "asked for with --accel";
  if (accel == "auto") accel = clawos::launcher::DetectAccel(&accel_why);
  config.accel = accel;

  const char* pub = std::getenv("CLAWOS_SIGNING_PUBKEY");
  if (!pub || !*pub) {
    return Fail(
        "CLAWOS_SIGNING_PUBKEY is not set: give the hex Ed25519 public key (or the path of "
        "signing.pub) that images must be signed with");
  }
  auto key = clawos::image::ParsePublicKey(pub);
  if (!key.ok()) return Fail("CLAWOS_SIGNING_PUBKEY: " + std::string(key.status().message()));
  config.signing_pubkey = *key;
  std::shared_ptr<clawos::launcher::AgentTokens> tokens;
  if (!proxy_url.empty()) {
    tokens = std::make_shared<clawos::launcher::AgentTokens>(identity_addr, token_ttl);
    auto tunnel = clawos::launcher::InferenceTunnel::Create(
        {proxy_url, [tokens](const std::string& vm, const std::string& model) {
           return tokens->Get(vm, model);
         }});
    if (!tunnel.ok()) return Fail(std::string(tunnel.status().message()));
    config.on_inference = [t = *tunnel](const std::string& vm, const std::string& model,
                                        std::unique_ptr<clawos::launcher::AgentStream> s,
                                        clawos::launcher::apb::Frame f) {
      t->Handle(vm, model, std::move(s), std::move(f));
    };
  }
  std::shared_ptr<clawos::launcher::MonitorRegistrar> registrar;
  if (!monitor_addr.empty()) {
    registrar = std::make_shared<clawos::launcher::MonitorRegistrar>(monitor_addr);
    config.on_cgroup = [registrar](const std::string& vm, const std::string& path, uint64_t id) {
      return registrar->Register(vm, path, id);
    };
    config.on_cgroup_gone = [registrar](const std::string& name) { registrar->Unregister(name); };
  }
  config.on_delete = [tokens, registrar](const std::string& vm) {
    if (tokens) tokens->Revoke(vm);
    if (registrar) registrar->Unregister(vm);
  };
  if (daemon.server.listen.empty()) {
    daemon.server.listen = {"127.0.0.1:2080", "unix:" + config.state_dir + "/launcher.sock"};
  }

  auto launcher = clawos::launcher::Launcher::Open(config, clawos::RealClock::Get());
  if (!launcher.ok()) return Fail(std::string(launcher.status().message()));
  auto metrics = clawos::Metrics::Start(daemon.metrics_listen);
  if (!metrics.ok()) return Fail(std::string(metrics.status().message()));
  clawos::launcher::LauncherService service(**launcher);
  auto server = clawos::GrpcServer::Start(
      daemon.server, {clawos::Serve<clawos::launcher::v1::LauncherService>(&service)},
      metrics->get());
  if (!server.ok()) return Fail(std::string(server.status().message()));
  clawos::log::Info("serving", {{"listen", (*server)->bound()},
                                {"metrics_port", (*metrics)->port()},
                                {"state_dir", config.state_dir},
                                {"backend", backend},
                                {"accel", accel},
                                {"accel_reason", accel_why},
                                {"inference_proxy", proxy_url.empty() ? "off" : proxy_url},
                                {"monitor", monitor_addr.empty() ? "off" : monitor_addr}});
  int sig = clawos::WaitForShutdownSignal();
  clawos::log::Info("draining; running VMs keep running and are re-adopted on restart",
                    {{"signal", sig}});
  (*server)->Shutdown();
  clawos::log::Info("stopped");
  return 0;
}
