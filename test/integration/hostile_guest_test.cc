// An adversarial agent: from inside a real VM (commands run with `clawos vm
// exec`, as root in the guest), every attack issue 16 names that a guest can
// make through the real channel, tunnel and console — floods of inference
// streams, console bytes and kernel messages, malformed HTTP and invalid
// UTF-8 through the tunnel, a forged x-clawos-vm, budget-overflow requests,
// console bytes that break a proto string, then a crash. After each: every
// daemon answers, the launcher's memory and threads are under their bounds,
// `clawos vm list` works and the other VM's exec works. Frame-level attacks a
// guest cannot send through its own agent (unsolicited pongs, stream-id games)
// are in vm-launcher/agent_client_test.cc against the same code.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/testing/daemon_argv.h"
#include "common/testing/eventually.h"
#include "common/testing/http_call.h"
#include "common/testing/ports.h"
#include "common/testing/subprocess.h"
#include "common/testing/temp_dir.h"
#include "common/testing/test_image.h"
#include "common/utf8.h"
#include "inference-proxy/ledger.h"

namespace clawos {
namespace {

using testing::Daemon;
using testing::RunCommand;
using testing::RunResult;

const std::string kBin = CLAWOS_BIN_DIR;
const std::string kSrc = CLAWOS_SOURCE_DIR;

// Stated bounds on the launcher under attack (docs/vm-launcher.md).
constexpr int64_t kMaxRssGrowthKib = 96 << 10;  // 96 MiB over its idle size
constexpr int kMaxStreamsPerVm = 4;             // --max-guest-streams-per-vm below
constexpr int kThreadSlack = 24;                // gRPC and housekeeping threads come and go

// A number from /proc/PID/status ("VmRSS", "Threads"), or -1.
int64_t ProcStatus(pid_t pid, const std::string& key) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (!absl::StartsWith(line, key + ":")) continue;
    std::string v = line.substr(key.size() + 1);
    v.erase(0, v.find_first_not_of(" \t"));
    v = v.substr(0, v.find_first_of(" \t"));
    int64_t n = -1;
    return absl::SimpleAtoi(v, &n) ? n : -1;
  }
  return -1;
}

class HostileGuestTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    skip_ = testing::VmTestSkipReason(&image_);
    if (!skip_.empty()) return;
    dir_ = new testing::TempDir();
    cgroup_parent_ = absl::StrCat("clawos-test-hostile", getpid());
    identity_ = new Daemon(testing::IdentityArgv(kBin, dir_->path()), Sub("identity.log"));
    ASSERT_TRUE(identity_->WaitForFile(Sub("id.sock"))) << identity_->Log();
    upstream_ = new Daemon({"/usr/bin/python3", kSrc + "/test/upstream/fake_llm.py", "--port-file",
                            Sub("up.port"), "--log", Sub("up.log")},
                           Sub("upstream.log"));
    ASSERT_TRUE(upstream_->WaitForFile(Sub("up.port"))) << upstream_->Log();
    proxy_port_ = testing::FreeLoopbackPort();
    proxy_ = new Daemon(
        {kBin + "/clawos-inference-proxy", "--listen", absl::StrCat("127.0.0.1:", proxy_port_),
         "--state-dir", Sub("proxy"), "--identity", "unix:" + Sub("id.sock"), "--openai-url",
         "http://127.0.0.1:" + ReadFile(Sub("up.port")).value(), "--admin-listen",
         "unix:" + Sub("admin.sock"), "--metrics-listen", "off", "--rpm", "0", "--budget-tokens",
         "100000", "--upstream-timeout", "20s"},
        Sub("proxy.log"), {{"CLAWOS_OPENAI_API_KEY", "sk-test"}});
    ASSERT_TRUE(proxy_->WaitForFile(Sub("admin.sock"))) << proxy_->Log();
    std::vector<std::string> argv = testing::LauncherArgv(kBin, dir_->path(), cgroup_parent_);
    argv.insert(argv.end(),
                {"--inference-proxy-url", absl::StrCat("http://127.0.0.1:", proxy_port_),
                 "--max-guest-streams-per-vm", std::to_string(kMaxStreamsPerVm),
                 "--health-interval", "2s"});
    launcher_ = new Daemon(argv, Sub("launcher.log"), testing::LauncherEnv(image_));
    ASSERT_TRUE(launcher_->WaitForFile(Sub("launcher.sock"))) << launcher_->Log();
    RunResult imp = Cli({"image", "import", image_, "--name", "agent"}, absl::Minutes(5));
    ASSERT_EQ(imp.exit_code, 0) << imp.err;
    for (const char* vm : {"victim", "attacker"}) {
      RunResult s = Cli({"vm", "start", vm, "--image", "agent"}, absl::Minutes(5));
      ASSERT_EQ(s.exit_code, 0) << s.err << launcher_->Log();
    }
    idle_rss_kib_ = ProcStatus(launcher_->pid(), "VmRSS");
    idle_threads_ = ProcStatus(launcher_->pid(), "Threads");
  }
  static void TearDownTestSuite() {
    if (!dir_) return;
    if (::testing::UnitTest::GetInstance()->failed_test_count() > 0) {
      for (Daemon* d : {launcher_, proxy_}) {
        std::string log = d ? d->Log() : "";
        std::cout << "---- log tail ----\n"
                  << log.substr(log.size() > 6000 ? log.size() - 6000 : 0);
      }
    }
    if (launcher_) {
      for (const char* vm : {"victim", "attacker"}) {
        Cli({"vm", "delete", "--force", vm}, absl::Minutes(1));
      }
    }
    for (Daemon* d : {launcher_, proxy_, upstream_, identity_}) delete d;
    testing::RemoveCgroupParent(cgroup_parent_);
    delete dir_;
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
  }

  static std::string Sub(const std::string& p) { return dir_->Sub(p); }
  static RunResult Cli(std::vector<std::string> args, absl::Duration timeout = absl::Seconds(90)) {
    args.insert(args.begin(), kBin + "/clawos");
    return RunCommand(
        args, "",
        {{"CLAWOS_LAUNCHER_ADDR", "unix:" + Sub("launcher.sock")}, {"CLAWOS_DIRECT", "1"}},
        timeout);
  }
  static RunResult InGuest(const std::string& vm, const std::string& script,
                           absl::Duration timeout = absl::Seconds(120)) {
    return Cli({"vm", "exec", vm, "--", "sh", "-c", script}, timeout);
  }

  // What must hold after every attack.
  void ExpectHostIntact(const std::string& after) {
    SCOPED_TRACE(after);
    for (Daemon* d : {identity_, proxy_, launcher_}) EXPECT_TRUE(d->Running());
    RunResult list = Cli({"vm", "list", "-o", "json"});
    ASSERT_EQ(list.exit_code, 0) << list.err;
    auto j = nlohmann::json::parse(list.out, nullptr, false);
    ASSERT_TRUE(j.is_object()) << list.out;
    EXPECT_TRUE(IsValidUtf8(list.out));
    RunResult plain = Cli({"vm", "list"});
    EXPECT_EQ(plain.exit_code, 0) << plain.err;
    RunResult victim = InGuest("victim", "echo victim-ok");
    EXPECT_EQ(victim.exit_code, 0) << victim.err;
    EXPECT_EQ(victim.out, "victim-ok\n");
    testing::HttpAnswer ready = testing::HttpCall(proxy_port_, "GET", "/readyz");
    EXPECT_NE(ready.status, 0) << "the proxy answers: " << ready.body;
    const int64_t rss = ProcStatus(launcher_->pid(), "VmRSS");
    const int64_t threads = ProcStatus(launcher_->pid(), "Threads");
    EXPECT_LT(rss - idle_rss_kib_, kMaxRssGrowthKib) << "launcher RSS " << rss << " KiB";
    EXPECT_LE(threads, idle_threads_ + 2 * kMaxStreamsPerVm + kThreadSlack)
        << "launcher threads " << threads << " (idle " << idle_threads_ << ")";
    RecordProfile(after, rss, threads);
  }
  static void RecordProfile(const std::string& after, int64_t rss, int64_t threads) {
    std::cout << "[hostile] after " << after << ": launcher RSS " << rss / 1024 << " MiB (idle "
              << idle_rss_kib_ / 1024 << "), threads " << threads << " (idle " << idle_threads_
              << ")\n";
  }

  static inline std::string skip_, image_, cgroup_parent_;
  static inline testing::TempDir* dir_ = nullptr;
  static inline Daemon *identity_ = nullptr, *upstream_ = nullptr, *proxy_ = nullptr,
                       *launcher_ = nullptr;
  static inline int proxy_port_ = 0;
  static inline int64_t idle_rss_kib_ = 0, idle_threads_ = 0;
};

// `clawos vm start NAME --model M`, as the seed's README writes it: the
// agent's default model is M, and its token gets M and nothing else from
// the proxy (403) until an operator allows more.
TEST_F(HostileGuestTest, AVmsModelIsTheOnlyOneItsTokenMayUse) {
  RunResult s =
      Cli({"vm", "start", "bound", "--image", "agent", "--model", "gpt-4o-mini", "--mem", "256"},
          absl::Minutes(5));
  ASSERT_EQ(s.exit_code, 0) << s.err;
  auto ask = [](const std::string& model) {
    return InGuest("bound", "wget -q -O - --post-data '{\"model\":\"" + model +
                                "\",\"max_tokens\":5}' http://127.0.0.1:11435/v1/chat/completions");
  };
  RunResult own = ask("gpt-4o-mini");
  EXPECT_EQ(own.exit_code, 0) << own.err;
  EXPECT_NE(own.out.find("choices"), std::string::npos) << own.out;
  RunResult other = ask("gpt-4o");
  EXPECT_NE(other.exit_code, 0) << other.out;
  EXPECT_NE(other.err.find("403"), std::string::npos) << other.err;
  RunResult dflt = InGuest("bound", "echo $CLAWOS_MODEL");
  EXPECT_EQ(dflt.out, "gpt-4o-mini\n") << "the agent's default model";
  auto admin = [](std::vector<std::string> args) {
    args.insert(args.begin(), kBin + "/clawos");
    return RunCommand(args, "", {{"CLAWOS_PROXY_ADMIN_ADDR", "unix:" + Sub("admin.sock")}});
  };
  RunResult audit = admin({"proxy", "audit", "--filter", "outcome=FORBIDDEN", "-o", "json"});
  ASSERT_EQ(audit.exit_code, 0) << audit.err;
  EXPECT_NE(audit.out.find("agents/bound"), std::string::npos) << audit.out;
  ASSERT_EQ(admin({"proxy", "limits", "set", "agents/bound", "--allow-model", "gpt-4o"}).exit_code,
            0);
  RunResult allowed = ask("gpt-4o");
  EXPECT_EQ(allowed.exit_code, 0) << allowed.err;
  EXPECT_EQ(Cli({"vm", "delete", "--force", "bound"}, absl::Minutes(1)).exit_code, 0);
  ExpectHostIntact("a model outside the VM's");
}

TEST_F(HostileGuestTest, AFloodOfInferenceStreamsIsRefusedNotGivenThreads) {
  // 30 concurrent calls whose upstream stays silent: each would hold a host
  // thread for minutes. Only kMaxStreamsPerVm get one.
  RunResult flood =
      InGuest("attacker",
              "for i in $(seq 30); do (wget -q -O /tmp/r$i --post-data "
              "'{\"model\":\"fault-timeout\",\"max_tokens\":5}' "
              "http://127.0.0.1:11435/v1/chat/completions 2>/tmp/e$i; echo $? > /tmp/x$i) & done; "
              "sleep 8; ls /tmp/x* 2>/dev/null | wc -l");
  ASSERT_EQ(flood.exit_code, 0) << flood.err;
  int refused_already = std::atoi(flood.out.c_str());
  EXPECT_GE(refused_already, 30 - kMaxStreamsPerVm - 2)
      << "the calls over the cap were answered at once";
  ExpectHostIntact("a stream flood");
  RunResult stop = InGuest("attacker", "pkill wget; sleep 2; echo done");
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  // The refused streams' places come back: a normal call from the attacker works.
  RunResult normal;
  EXPECT_TRUE(testing::Eventually(
      [&] {
        normal = InGuest("attacker",
                         "wget -q -O - --post-data '{\"model\":\"gpt-4o-mini\",\"max_tokens\":5}' "
                         "http://127.0.0.1:11435/v1/chat/completions");
        return normal.exit_code == 0;
      },
      absl::Seconds(120), absl::Seconds(3)))
      << normal.out << normal.err;
}

TEST_F(HostileGuestTest, MalformedHttpAndForgedHeadersThroughTheTunnel) {
  const std::string nc = "nc -w 10 127.0.0.1 11435";
  RunResult raw = InGuest(
      "attacker",
      absl::StrCat(
          "printf 'GET /\\377\\376 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' | ", nc, "; echo; ",
          "printf 'POST /v1/chat/completions HTTP/1.1\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n"
          "zz\\r\\n' | ",
          nc, "; echo; ", "printf 'BAD REQUEST LINE\\r\\n\\r\\n' | ", nc, "; echo; ",
          "printf 'POST /v1/chat/completions HTTP/1.1\\r\\nX-Bad: \\377\\r\\nContent-Length: "
          "2\\r\\n"
          "\\r\\n{}' | ",
          nc, "; echo; ",
          "wget -q -O - --header 'x-clawos-vm: victim' --post-data "
          "'{\"model\":\"gpt-4o-mini\",\"max_tokens\":5,\"stream_options\":{\"include_usage\":1},"
          "\"stream\":true}' http://127.0.0.1:11435/v1/chat/completions; echo; "
          "wget -q -O - --header 'x-clawos-vm: victim' --post-data "
          "'{\"model\":\"gpt-4o-mini\",\"max_tokens\":5}' "
          "http://127.0.0.1:11435/v1/chat/completions"));
  EXPECT_NE(raw.out.find("\"object\""), std::string::npos)
      << "the last, well-formed call went through: " << raw.out << raw.err;
  ExpectHostIntact("malformed HTTP through the tunnel");
  // The ledger's rows for the attacker's calls name the attacker, whatever it sent.
  auto ledger = proxy::Ledger::Open(Sub("proxy/usage.db"));
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  std::vector<proxy::LedgerRow> rows;
  EXPECT_TRUE(testing::Eventually([&] {
    rows = (*ledger)->Recent("agents/attacker", absl::InfinitePast(), 1000).value_or(rows);
    return !rows.empty();
  }));
  for (const auto& r : rows) EXPECT_EQ(r.vm, "attacker") << r.request_id;
  EXPECT_TRUE((*ledger)->Recent("agents/victim", absl::InfinitePast(), 1000)->empty())
      << "nothing was charged to the victim";
}

TEST_F(HostileGuestTest, BudgetOverflowRequestsAreRefusedAndChargeNothing) {
  RunResult r =
      InGuest("attacker",
              "for b in '{\"model\":\"gpt-4o-mini\",\"max_tokens\":9223372036854775807}' "
              "'{\"model\":\"gpt-4o-mini\",\"max_tokens\":9000000000000000000,\"n\":128}' "
              "'{\"model\":\"gpt-4o-mini\",\"max_tokens\":1000,\"n\":128}' "
              "'{\"model\":\"gpt-4o-mini\",\"max_tokens\":-1}'; do "
              "wget -q -O - --post-data \"$b\" http://127.0.0.1:11435/v1/chat/completions "
              ">/dev/null 2>&1; echo \"exit $?\"; done");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "exit 1\nexit 1\nexit 1\nexit 1\n") << "every one refused";
  auto usage = testing::HttpCall(proxy_port_, "GET", "/readyz");
  EXPECT_NE(usage.status, 0);
  ExpectHostIntact("budget-overflow requests");
}

TEST_F(HostileGuestTest, ConsoleAndKernelLogFloodsStayBounded) {
  RunResult flood = InGuest(
      "attacker",
      "i=0; while [ $i -lt 20000 ]; do echo \"kmsg flood $i\" > /dev/kmsg; i=$((i+1)); done; "
      "head -c 3000000 /dev/urandom > /dev/ttyS0; echo flooded",
      absl::Minutes(5));
  ASSERT_EQ(flood.exit_code, 0) << flood.err;
  ExpectHostIntact("console and kernel log floods");
  // What the launcher keeps of it on disk is bounded too.
  struct stat st {};
  std::string vmdir = Sub("launcher/vms/attacker");
  if (::stat((vmdir + "/run/console.log").c_str(), &st) == 0) {
    EXPECT_LE(st.st_size, int64_t{8} << 20) << "console.log";
  }
  ASSERT_EQ(::stat((vmdir + "/logs.jsonl").c_str(), &st), 0);
  EXPECT_LE(st.st_size, int64_t{17} << 20) << "logs.jsonl";
  RunResult logs = Cli({"vm", "logs", "attacker", "--source", "console", "--tail", "50"});
  EXPECT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_TRUE(IsValidUtf8(logs.out));
}

// Last: it ends the attacker. Issue 16's reproduction: invalid UTF-8 on the
// console, then a power-off, once broke `clawos vm list` for everyone.
TEST_F(HostileGuestTest, ConsoleBytesThenACrashDoNotBreakVmList) {
  // An earlier flood may still be pumped, its lines over the log's rate
  // limit dropped: wait until a fresh line gets through, so the line this
  // test looks for is not dropped with them.
  EXPECT_TRUE(testing::Eventually(
      [&] {
        InGuest("attacker", "echo console-caught-up > /dev/ttyS0", absl::Seconds(30));
        RunResult logs = Cli({"vm", "logs", "attacker", "--source", "console", "--tail", "20"});
        return logs.out.find("console-caught-up") != std::string::npos;
      },
      absl::Seconds(90), absl::Seconds(2)));
  InGuest("attacker", "printf '\\377\\376 bad\\n' > /dev/ttyS0; echo o > /proc/sysrq-trigger",
          absl::Seconds(30));
  nlohmann::json vm;
  EXPECT_TRUE(testing::Eventually(
      [&] {
        RunResult s = Cli({"vm", "status", "attacker", "-o", "json"});
        vm = nlohmann::json::parse(s.out, nullptr, false);
        return vm.is_object() && vm.value("state", "") == "FAILED";
      },
      absl::Seconds(60), absl::Milliseconds(500)))
      << vm.dump();
  ASSERT_TRUE(vm.contains("failure")) << vm.dump();
  std::string message = vm["failure"].value("message", "");
  EXPECT_TRUE(IsValidUtf8(message));
  EXPECT_NE(message.find("console:"), std::string::npos) << message;
  EXPECT_NE(message.find("\xef\xbf\xbd\xef\xbf\xbd bad"), std::string::npos)
      << "the console's end is quoted, its bad bytes as U+FFFD (even after the console "
         "flood had console.log truncated): "
      << message;
  std::cout << "[hostile] failure message: " << message << "\n";
  ExpectHostIntact("console bytes and a crash");
}

}  // namespace
}  // namespace clawos
