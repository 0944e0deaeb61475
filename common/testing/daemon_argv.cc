#include "common/testing/daemon_argv.h"

namespace clawos::testing {

std::vector<std::string> IdentityArgv(const std::string& bin, const std::string& dir) {
  return {bin + "/clawos-identity",
          "--state-dir",
          dir + "/identity",
          "--listen",
          "unix:" + dir + "/id.sock",
          "--metrics-listen",
          ""};
}

std::vector<std::string> LauncherArgv(const std::string& bin, const std::string& dir,
                                      const std::string& cgroup_parent) {
  return {bin + "/clawos-vm-launcher",
          "--state-dir",
          dir + "/launcher",
          "--listen",
          "unix:" + dir + "/launcher.sock",
          "--metrics-listen",
          "off",
          "--cgroup-parent",
          cgroup_parent,
          "--accel",
          "tcg",
          "--min-available-mib",
          "64",
          "--identity",
          "unix:" + dir + "/id.sock"};
}

std::map<std::string, std::string> LauncherEnv(const std::string& image) {
  return {{"CLAWOS_SIGNING_PUBKEY", image + "/../guest-keys/signing.pub"}};
}

std::vector<std::string> OrchestratorArgv(const std::string& bin, const std::string& dir) {
  return {bin + "/clawos-orchestrator",
          "--state-dir",
          dir + "/orch",
          "--listen",
          "unix:" + dir + "/orch.sock",
          "--metrics-listen",
          "off",
          "--launcher",
          "unix:" + dir + "/launcher.sock",
          "--proxy-admin",
          "unix:" + dir + "/admin.sock"};
}

}  // namespace clawos::testing
