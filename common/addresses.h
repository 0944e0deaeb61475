// Where the ClawOS daemons listen by default, for their clients (the CLI,
// the control plane, the other daemons): the trusted unix sockets in each
// daemon's state directory.
#pragma once

namespace clawos {

inline constexpr char kDefaultIdentityAddr[] = "unix:/var/lib/clawos/identity/identity.sock";
inline constexpr char kDefaultLauncherAddr[] = "unix:/var/lib/clawos/launcher/launcher.sock";
inline constexpr char kDefaultProxyAdminAddr[] = "unix:/var/lib/clawos/proxy/admin.sock";
inline constexpr char kDefaultMonitorAddr[] = "unix:/var/lib/clawos/monitor/monitor.sock";
inline constexpr char kDefaultOrchestratorAddr[] =
    "unix:/var/lib/clawos/orchestrator/orchestrator.sock";
inline constexpr char kDefaultControlPlaneUrl[] = "http://127.0.0.1:8080";

}  // namespace clawos
