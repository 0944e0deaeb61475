// `clawos up` → a VM started, listed, exec'd and stopped with the CLI over
// https through the real nginx → `clawos down` leaves no process behind; and
// `clawos doctor` before and after, including a port another program holds.
// The stack runs on a port offset and its own state directory, so it cannot
// meet a default stack on the same host.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/testing/subprocess.h"
#include "common/testing/temp_dir.h"
#include "common/testing/test_image.h"

namespace clawos {
namespace {

using testing::RunCommand;
using testing::RunResult;

const std::string kBin = CLAWOS_BIN_DIR;
constexpr int kOffset = 21000;  // 8080 → 29080, 8443 → 29443, ...

class StackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* img = std::getenv("CLAWOS_TEST_IMAGE");
    if (!img || !PathExists(std::string(img) + "/manifest.sig")) {
      GTEST_SKIP()
          << "SKIPPED: no built and signed guest image (CLAWOS_TEST_IMAGE; ctest builds it)";
    }
    if (geteuid() != 0) GTEST_SKIP() << "SKIPPED: clawos up needs root";
    image_ = img;
    state_ = dir_.Sub("state");
  }
  void TearDown() override {
    if (!state_.empty()) Clawos({"down"}, {}, absl::Minutes(2));
  }
  std::vector<std::string> StackFlags() const {
    return {"--state-dir", state_, "--port-offset",    std::to_string(kOffset),
            "--image-dir", image_, "--signing-pubkey", image_ + "/../guest-keys/signing.pub"};
  }
  RunResult Clawos(std::vector<std::string> args, std::map<std::string, std::string> env = {},
                   absl::Duration timeout = absl::Minutes(5)) {
    std::vector<std::string> argv = {kBin + "/clawos"};
    argv.insert(argv.end(), args.begin(), args.end());
    if (args[0] == "up" || args[0] == "down" || args[0] == "doctor" || args[0] == "status") {
      auto f = StackFlags();
      argv.insert(argv.end(), f.begin(), f.end());
    }
    return RunCommand(argv, "", env, timeout);
  }
  // Processes whose command line names this stack's state directory.
  std::vector<std::string> Leftovers() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      int pid = 0;
      if (!absl::SimpleAtoi(e.path().filename().string(), &pid) || pid == getpid()) continue;
      std::ifstream in(e.path() / "cmdline");
      std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      std::replace(cmd.begin(), cmd.end(), '\0', ' ');
      if (cmd.find(state_) != std::string::npos) out.push_back(absl::StrCat(pid, ": ", cmd));
    }
    return out;
  }

  testing::TempDir dir_;
  std::string image_, state_;
};

TEST_F(StackTest, UpThenAVmOverHttpsThenDownLeavesNothing) {
  // doctor before: the stack's ports are free; one taken by another program is a FAIL.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(8080 + kOffset);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  RunResult taken = Clawos({"doctor"});
  EXPECT_EQ(taken.exit_code, 1) << taken.out;
  EXPECT_NE(taken.out.find(absl::StrCat("port ", 8080 + kOffset, " is taken")), std::string::npos)
      << taken.out;
  EXPECT_NE(taken.out.find("OK    cgroup v2"), std::string::npos) << taken.out;
  close(fd);

  RunResult up = Clawos({"up"}, {}, absl::Minutes(5));
  ASSERT_EQ(up.exit_code, 0) << up.out << up.err;
  for (const char* d : {"identity", "inference-proxy", "monitor", "launcher", "orchestrator",
                        "controlplane", "nginx"}) {
    EXPECT_NE(up.out.find(absl::StrCat("  ", d)), std::string::npos) << d << "\n" << up.out;
  }
  // Again: everything already runs, nothing is started twice.
  RunResult again = Clawos({"up"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out.find("started"), std::string::npos) << again.out;

  // The CLI over https through nginx, trusting the stack's own CA.
  std::string token = std::string(
      absl::StripTrailingAsciiWhitespace(ReadFile(state_ + "/controlplane/admin.token").value()));
  std::map<std::string, std::string> env = {
      {"CLAWOS_URL", absl::StrCat("https://localhost:", 8443 + kOffset)},
      {"CLAWOS_CA_FILE", state_ + "/tls/clawos.crt"},
      {"CLAWOS_TOKEN", token},
  };
  RunResult start = Clawos({"vm", "start", "demo", "--image", "agent"}, env);
  ASSERT_EQ(start.exit_code, 0) << start.out << start.err;
  RunResult list = Clawos({"vm", "list", "-o", "json"}, env);
  ASSERT_EQ(list.exit_code, 0) << list.err;
  auto j = nlohmann::json::parse(list.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << list.out;
  ASSERT_EQ(j["vms"].size(), 1u);
  EXPECT_EQ(j["vms"][0]["name"], "vms/demo");
  EXPECT_EQ(j["vms"][0]["state"], "RUNNING");
  RunResult exec = Clawos({"vm", "exec", "demo", "--", "uname", "-s"}, env);
  EXPECT_EQ(exec.exit_code, 0) << exec.err;
  EXPECT_EQ(exec.out, "Linux\n");
  RunResult code = Clawos({"vm", "exec", "demo", "--", "sh", "-c", "exit 7"}, env);
  EXPECT_EQ(code.exit_code, 7);
  // A wrong CA is refused (no silent fallback to plain trust).
  auto bad = env;
  bad["CLAWOS_CA_FILE"] = "/etc/ssl/certs/ca-certificates.crt";
  RunResult refused = Clawos({"vm", "list"}, bad);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("certificate"), std::string::npos) << refused.err;

  // A workflow through the orchestrator that `up` started, over the same https.
  ASSERT_TRUE(WriteFileAtomic(state_ + "/flow.yaml",
                              "name: hello\nagents: {w: {memory_mib: 256}}\n"
                              "steps:\n  - {id: hi, agent: w, exec: 'echo hi from $CLAWOS_STEP'}\n",
                              0600)
                  .ok());
  RunResult flow = Clawos({"workflow", "submit", state_ + "/flow.yaml", "--id", "hello", "--wait"},
                          env, absl::Minutes(3));
  EXPECT_EQ(flow.exit_code, 0) << flow.out << flow.err;
  EXPECT_EQ(flow.out, "workflows/hello SUCCEEDED\n") << flow.err;
  EXPECT_NE(flow.err.find("hi                   SUCCEEDED"), std::string::npos) << flow.err;
  RunResult output = Clawos({"workflow", "output", "hello", "hi"}, env);
  EXPECT_EQ(output.out, "hi from hi\n") << output.err;
  RunResult metrics = RunCommand(
      {"/usr/bin/curl", "-sf", absl::StrCat("http://127.0.0.1:", 9081 + kOffset, "/metrics")});
  EXPECT_NE(metrics.out.find("clawos_orchestrator_workflows_finished_total{state=\"SUCCEEDED\"} 1"),
            std::string::npos)
      << metrics.out;
  EXPECT_NE(metrics.out.find("clawos_orchestrator_attempts_total{outcome=\"succeeded\"} 1"),
            std::string::npos);
  RunResult missing = Clawos({"workflow", "get", "nope"}, env);
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("NOT_FOUND"), std::string::npos) << missing.err;

  // doctor while up: the daemons run and the control plane is ready.
  RunResult doc = Clawos({"doctor"});
  EXPECT_NE(doc.out.find("OK    readiness"), std::string::npos) << doc.out;
  EXPECT_NE(doc.out.find("OK    launcher         running"), std::string::npos) << doc.out;

  RunResult stop = Clawos({"vm", "stop", "demo"}, env);
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  // A VM left running is stopped by down too.
  ASSERT_EQ(Clawos({"vm", "start", "demo"}, env).exit_code, 0);

  RunResult down = Clawos({"down"}, {}, absl::Minutes(2));
  ASSERT_EQ(down.exit_code, 0) << down.err;
  EXPECT_NE(down.out.find("vms/demo stopped"), std::string::npos) << down.out;
  std::vector<std::string> left;
  for (int i = 0; i < 50 && !(left = Leftovers()).empty(); ++i)
    absl::SleepFor(absl::Milliseconds(100));
  EXPECT_TRUE(left.empty()) << absl::StrJoin(left, "\n");
  RunResult status = Clawos({"status"});
  EXPECT_EQ(status.exit_code, 3);
  EXPECT_EQ(status.out.find("running"), std::string::npos) << status.out;
}

}  // namespace
}  // namespace clawos
