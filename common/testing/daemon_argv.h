// How the integration tests start the real daemons: state directories and
// unix sockets under one test directory (id.sock, launcher.sock, admin.sock,
// orch.sock), metrics off, VMs under TCG in their own cgroup parent.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace clawos::testing {

std::vector<std::string> IdentityArgv(const std::string& bin, const std::string& dir);
// Add "--inference-proxy-url URL" for VMs that call the proxy.
std::vector<std::string> LauncherArgv(const std::string& bin, const std::string& dir,
                                      const std::string& cgroup_parent);
// CLAWOS_SIGNING_PUBKEY for the image ctest builds (`image`/../guest-keys).
std::map<std::string, std::string> LauncherEnv(const std::string& image);
// Against launcher.sock, with the proxy's admin.sock for agents' limits.
std::vector<std::string> OrchestratorArgv(const std::string& bin, const std::string& dir);

}  // namespace clawos::testing
