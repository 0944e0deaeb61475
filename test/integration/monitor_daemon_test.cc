// The real clawos-monitor (real BPF) with real rsyslog as the SIEM: CEF over
// RFC 5424 on UDP and TCP, and over TLS to openssl s_server; liblognorm's
// lognormalizer parses every field back to the value in the JSONL event log,
// including values holding |, \, =, newlines and non-ASCII. The SIEM going
// away (queued, then delivered), a full queue (dropped and counted), a
// restart (targets restored), and policy alerts and kills.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <map>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "clawos/monitor/v1/monitor.grpc.pb.h"
#include "common/files.h"
#include "common/grpc_client.h"
#include "common/tcp_socket.h"
#include "common/testing/eventually.h"
#include "common/testing/ports.h"
#include "common/testing/subprocess.h"
#include "common/testing/temp_dir.h"
#include "common/testing/test_cgroup.h"

namespace clawos {
namespace {

using testing::Daemon;
using testing::RunCommand;
using json = nlohmann::json;

const std::string kBin = CLAWOS_BIN_DIR;
// The project's rulebase for the monitor's CEF (docs/monitor.md).
const std::string kRulebase = CLAWOS_SOURCE_DIR "/deploy/rsyslog/clawos-cef.rb";

bool TcpListening(int port) {
  auto fd = ConnectTcp("127.0.0.1", port, absl::Seconds(1));
  if (fd.ok()) close(*fd);
  return fd.ok();
}

class MonitorDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "SKIPPED: the monitor loads BPF programs: needs root";
    for (const char* tool : {"/usr/sbin/rsyslogd", "/usr/bin/lognormalizer"}) {
      if (!std::filesystem::exists(tool)) {
        GTEST_SKIP() << "SKIPPED: " << tool
                     << " is missing (apt-get install rsyslog liblognorm-utils)";
      }
    }
    cg_ = std::make_unique<testing::TestCgroup>("clawos-monitor-daemon-test");
    ASSERT_TRUE(cg_->ok()) << cg_->path();
    cgroup_ = cg_->path();
    udp_port_ = testing::FreeLoopbackPort(SOCK_DGRAM);
    tcp_port_ = testing::FreeLoopbackPort(SOCK_STREAM);
  }
  void TearDown() override {
    monitor_.reset();
    rsyslog_.reset();
    cg_.reset();
  }

  // rsyslog receiving on UDP and TCP; with `tls_port`, also TLS (RFC 5425)
  // through its OpenSSL driver, presenting siem.pem.
  void StartRsyslog(int tls_port = 0) {
    std::string conf = absl::StrCat("global(workDirectory=\"", dir_.path(), "\"");
    if (tls_port) {  // rsyslog's OpenSSL driver takes its files from global()
      absl::StrAppend(&conf, " DefaultNetstreamDriverCAFile=\"", dir_.Sub("siem.pem"), "\"",
                      " DefaultNetstreamDriverCertFile=\"", dir_.Sub("siem.pem"), "\"",
                      " DefaultNetstreamDriverKeyFile=\"", dir_.Sub("siem.key"), "\"");
    }
    absl::StrAppend(&conf, ")\nmodule(load=\"imudp\")\n");
    if (tls_port) {
      absl::StrAppend(&conf, "module(load=\"imtcp\" StreamDriver.Name=\"ossl\" ",
                      "StreamDriver.Mode=\"1\" StreamDriver.AuthMode=\"anon\")\n",
                      "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"", tls_port, "\")\n");
    } else {
      absl::StrAppend(&conf, "module(load=\"imtcp\")\n", "input(type=\"imtcp\" ",
                      "address=\"127.0.0.1\" port=\"", tcp_port_, "\")\n");
    }
    absl::StrAppend(&conf, "input(type=\"imudp\" address=\"127.0.0.1\" port=\"", udp_port_, "\")\n",
                    "template(name=\"msgonly\" type=\"string\" string=\"%msg%\\n\")\n",
                    "action(type=\"omfile\" file=\"", dir_.Sub("siem.log"),
                    "\" template=\"msgonly\")\n");
    const int probe = tls_port ? tls_port : tcp_port_;
    ASSERT_TRUE(WriteFileAtomic(dir_.Sub("rsyslog.conf"), conf, 0600).ok());
    rsyslog_ = std::make_unique<Daemon>(
        std::vector<std::string>{"/usr/sbin/rsyslogd", "-n", "-f", dir_.Sub("rsyslog.conf"), "-i",
                                 dir_.Sub("rsyslog.pid")},
        dir_.Sub("rsyslog.out"));
    for (int i = 0; i < 100 && !TcpListening(probe); ++i) absl::SleepFor(absl::Milliseconds(50));
    ASSERT_TRUE(TcpListening(probe)) << ReadFile(dir_.Sub("rsyslog.out")).value_or("");
  }

  void StartMonitor(const std::string& siem, std::vector<std::string> extra = {},
                    const std::string& metrics = "off") {
    monitor_.reset();
    std::vector<std::string> argv = {kBin + "/clawos-monitor",
                                     "--state-dir",
                                     dir_.Sub("state"),
                                     "--listen",
                                     "unix:" + dir_.Sub("m.sock"),
                                     "--metrics-listen",
                                     metrics,
                                     "--siem",
                                     siem};
    argv.insert(argv.end(), extra.begin(), extra.end());
    monitor_ = std::make_unique<Daemon>(argv, dir_.Sub("monitor.log"));
    ASSERT_TRUE(monitor_->WaitForFile(dir_.Sub("m.sock"))) << monitor_->Log();
  }

  testing::RunResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), kBin + "/clawos");
    return RunCommand(args, "", {{"CLAWOS_MONITOR_ADDR", "unix:" + dir_.Sub("m.sock")}});
  }

  // Runs a shell command inside the target cgroup.
  testing::RunResult InCgroup(const std::string& script) {
    return RunCommand({"/bin/sh", "-c", "echo $$ > " + cgroup_ + "/cgroup.procs && " + script});
  }

  // events.jsonl by sequence.
  std::map<std::string, json> ReadEvents() {
    std::map<std::string, json> out;
    for (absl::string_view line :
         absl::StrSplit(ReadFile(dir_.Sub("state/events.jsonl")).value_or(""), '\n')) {
      auto j = json::parse(line, nullptr, false);
      if (j.is_object()) out[std::to_string(j["sequence"].get<uint64_t>())] = j;
    }
    return out;
  }
  // events.jsonl by sequence, once `want` events are there.
  std::map<std::string, json> Events(size_t want) {
    std::map<std::string, json> out;
    testing::Eventually([&] { return (out = ReadEvents()).size() >= want; });
    return out;
  }

  // Every CEF message in `file` (one per line), parsed back by lognormalizer
  // with the project's rulebase, once there are `want`. A SIEM that just came
  // back may take a few seconds.
  std::vector<json> Parsed(const std::string& file, size_t want) {
    std::vector<json> out;
    for (absl::Time until = absl::Now() + absl::Seconds(30); absl::Now() < until;) {
      std::string text = ReadFile(file).value_or("");
      size_t end = text.rfind('\n');  // whole lines only: rsyslog may be mid-write
      text.resize(end == std::string::npos ? 0 : end + 1);
      size_t lines = std::count(text.begin(), text.end(), '\n');
      if (lines >= want) {
        auto r = RunCommand({"/usr/bin/lognormalizer", "-r", kRulebase, "-e", "json"}, text);
        for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
          auto j = json::parse(line, nullptr, false);
          if (j.is_object()) out.push_back(j);
        }
        return out;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return out;
  }

  // Each parsed CEF message's fields equal the event's original values. The
  // SIEM can be sent an event before the monitor's JSONL batch holding it is
  // flushed: `events` is read again until it has every CEF message's event.
  void ExpectRoundTrip(const std::vector<json>& cefs, std::map<std::string, json> events) {
    ASSERT_FALSE(cefs.empty());
    auto has_all = [&] {
      for (const auto& p : cefs) {
        if (p.contains("cef") &&
            !events.count(p["cef"]["Extensions"].value("externalId", std::string())))
          return false;
      }
      return true;
    };
    testing::Eventually([&] {
      if (has_all()) return true;
      events = ReadEvents();
      return false;
    });
    for (const auto& p : cefs) {
      ASSERT_TRUE(p.contains("cef")) << "lognormalizer could not parse: " << p.dump();
      const json& c = p["cef"];
      const json& x = c["Extensions"];
      std::string seq = x.value("externalId", "");
      auto it = events.find(seq);
      ASSERT_NE(it, events.end()) << "no event " << seq;
      const json& e = it->second;
      EXPECT_EQ(c["DeviceVendor"], "ClawOS");
      EXPECT_EQ(c["DeviceProduct"], "clawos-monitor");
      EXPECT_EQ(x.value("suser", ""), e.value("agent_subject", ""));
      EXPECT_EQ(x.value("cs1", ""), e.value("vm", ""));
      EXPECT_EQ(x.value("dproc", ""), e.value("comm", ""));
      EXPECT_EQ(x.value("dpid", ""), std::to_string(e.value("pid", 0)));
      EXPECT_EQ(x.value("act", ""), e.value("action", ""));
      if (e.value("kind", "") == "SYSCALL") {
        EXPECT_EQ(c["SignatureID"], "syscall:" + e["syscall"]["name"].get<std::string>());
        EXPECT_EQ(x.value("msg", ""), e["syscall"].value("args_summary", ""));
      }
      if (e.contains("argv")) {
        EXPECT_EQ(x.value("cs4", ""),
                  absl::StrJoin(e["argv"].get<std::vector<std::string>>(), " "));
      }
      if (e.contains("filename")) {
        EXPECT_EQ(x.value("fname", ""), e["filename"]);
      }
    }
  }

  clawos::testing::TempDir dir_;
  std::unique_ptr<testing::TestCgroup> cg_;
  std::string cgroup_;  // its path
  int udp_port_ = 0, tcp_port_ = 0;
  std::unique_ptr<Daemon> rsyslog_, monitor_;
};

// The agent id, the command line and a file name carry |, \, =, a newline
// and non-ASCII: every CEF field parses back to what the event says.
const char kAgent[] = "agents/a|b\\c=d é";
const char kScript[] = "exec /bin/echo 'a|b\\c=d\né' '/tmp/x=y|z\\☃' >/dev/null";

TEST_F(MonitorDaemonTest, CefOverUdpAndTcpParsesBackAndTargetsSurviveARestart) {
  StartRsyslog();
  StartMonitor(absl::StrCat("udp://127.0.0.1:", udp_port_));
  auto add = Cli(
      {"monitor", "target", "add", "t1", "--vm", "vms/v1", "--cgroup", cgroup_, "--agent", kAgent});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  auto run = InCgroup(kScript);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto events = Events(4);
  ASSERT_GE(events.size(), 4u);
  bool saw_argv = false;
  for (const auto& [seq, e] : events) {
    if (e.contains("argv") && e["argv"].size() == 3) {
      saw_argv = true;
      EXPECT_EQ(e["argv"][1], "a|b\\c=d\né");
      EXPECT_EQ(e["argv"][2], "/tmp/x=y|z\\☃");
    }
  }
  EXPECT_TRUE(saw_argv);
  ExpectRoundTrip(Parsed(dir_.Sub("siem.log"), events.size()), events);

  // Restart on TCP: the target is restored from targets.db.
  std::string before = ReadFile(dir_.Sub("siem.log")).value();
  std::filesystem::remove(dir_.Sub("siem.log"));
  rsyslog_.reset();
  StartRsyslog();
  std::filesystem::remove(dir_.Sub("state/events.jsonl"));
  StartMonitor(absl::StrCat("tcp://127.0.0.1:", tcp_port_), {}, "127.0.0.1:0");
  auto targets = Cli({"monitor", "targets"});
  EXPECT_NE(targets.out.find("t1"), std::string::npos) << targets.out;
  EXPECT_NE(targets.out.find("ACTIVE"), std::string::npos) << targets.out;
  ASSERT_EQ(InCgroup(kScript).exit_code, 0);
  auto again = Events(4);
  ASSERT_GE(again.size(), 4u) << "restored targets are watched";
  ExpectRoundTrip(Parsed(dir_.Sub("siem.log"), again.size()), again);

  // Prometheus: counts and lost events per target, each sink.
  int port = 0;
  for (absl::string_view line : absl::StrSplit(monitor_->Log(), '\n')) {
    auto j = json::parse(line, nullptr, false);
    if (j.is_object() && j.value("msg", "") == "serving") port = j.value("metrics_port", 0);
  }
  ASSERT_NE(port, 0) << monitor_->Log();
  auto m = RunCommand({"/usr/bin/curl", "-s", absl::StrCat("http://127.0.0.1:", port, "/metrics")});
  EXPECT_NE(m.out.find("clawos_monitor_syscalls_total{target=\"targets/t1\",vm=\"vms/v1\"}"),
            std::string::npos)
      << m.out;
  EXPECT_NE(m.out.find("clawos_monitor_events_lost_total 0"), std::string::npos) << m.out;
  EXPECT_NE(m.out.find("clawos_monitor_sink_events_total{sink=\"sinks/siem\"}"), std::string::npos);
}

TEST_F(MonitorDaemonTest, SiemDownIsBufferedThenDeliveredAndAFullQueueCountsDrops) {
  StartRsyslog();
  StartMonitor(absl::StrCat("tcp://127.0.0.1:", tcp_port_), {"--siem-queue", "1000"});
  ASSERT_EQ(
      Cli({"monitor", "target", "add", "t1", "--vm", "vms/v1", "--cgroup", cgroup_}).exit_code, 0);
  ASSERT_EQ(InCgroup("true").exit_code, 0);
  ASSERT_FALSE(Parsed(dir_.Sub("siem.log"), 1).empty()) << "delivered while up";
  rsyslog_.reset();  // the SIEM goes away
  std::filesystem::remove(dir_.Sub("siem.log"));
  ASSERT_EQ(InCgroup("cat /etc/hostname >/dev/null").exit_code, 0);
  testing::RunResult sinks;
  for (int i = 0; i < 50; ++i) {
    sinks = Cli({"-o", "json", "monitor", "sinks"});
    auto j = json::parse(sinks.out, nullptr, false);
    if (j.is_object() && j["sinks"][1].value("queue_depth", "0") != "0") break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  auto j = json::parse(sinks.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << sinks.out << sinks.err;
  EXPECT_EQ(j["sinks"][1]["state"], "FAILING") << sinks.out;
  EXPECT_NE(j["sinks"][1].value("queue_depth", "0"), "0") << sinks.out;
  auto events = Events(1);
  StartRsyslog();  // back: the queue is delivered
  auto parsed = Parsed(dir_.Sub("siem.log"), 3);
  EXPECT_GE(parsed.size(), 3u);
  ExpectRoundTrip(parsed, Events(events.size()));

  // A queue of 2 with the SIEM down: the rest is dropped and counted.
  rsyslog_.reset();
  StartMonitor(absl::StrCat("tcp://127.0.0.1:", tcp_port_), {"--siem-queue", "2"});
  ASSERT_EQ(InCgroup("cat /etc/hostname /etc/hostname >/dev/null; ls / >/dev/null").exit_code, 0);
  for (int i = 0; i < 50; ++i) {
    sinks = Cli({"-o", "json", "monitor", "sinks"});
    j = json::parse(sinks.out, nullptr, false);
    if (j.is_object() && j["sinks"][1].value("events_dropped", "0") != "0") break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_NE(j["sinks"][1].value("events_dropped", "0"), "0") << sinks.out;
  EXPECT_EQ(j["sinks"][1].value("queue_depth", "0"), "2") << sinks.out;
}

TEST_F(MonitorDaemonTest, CefOverTlsVerifiesTheSiemAndParsesBack) {
  if (!std::filesystem::exists("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_ossl.so")) {
    GTEST_SKIP() << "SKIPPED: rsyslog's TLS driver is missing (apt-get install rsyslog-openssl)";
  }
  auto cert = [&](const std::string& name) {
    return RunCommand({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                       "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                       "-addext", "subjectAltName=DNS:localhost", "-keyout",
                       dir_.Sub(name + ".key"), "-out", dir_.Sub(name + ".pem")});
  };
  ASSERT_EQ(cert("siem").exit_code, 0);
  ASSERT_EQ(cert("other").exit_code, 0);
  int tls_port = testing::FreeLoopbackPort(SOCK_STREAM);
  StartRsyslog(tls_port);
  const std::string siem = absl::StrCat("tls://localhost:", tls_port);

  // A SIEM whose certificate the given CA did not sign gets nothing.
  StartMonitor(siem, {"--siem-ca", dir_.Sub("other.pem")});
  ASSERT_EQ(Cli({"monitor", "target", "add", "t1", "--vm", "vms/v1", "--cgroup", cgroup_, "--agent",
                 kAgent})
                .exit_code,
            0);
  ASSERT_EQ(InCgroup("true").exit_code, 0);
  testing::RunResult sinks;
  for (int i = 0; i < 50; ++i) {
    sinks = Cli({"monitor", "sinks"});
    if (sinks.out.find("FAILING") != std::string::npos) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_NE(sinks.out.find("FAILING"), std::string::npos) << sinks.out;
  EXPECT_NE(sinks.out.find("certificate verify failed"), std::string::npos) << sinks.out;
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("siem.log")));

  std::filesystem::remove(dir_.Sub("state/events.jsonl"));
  StartMonitor(siem, {"--siem-ca", dir_.Sub("siem.pem")});
  ASSERT_EQ(InCgroup(kScript).exit_code, 0);
  auto events = Events(4);
  ExpectRoundTrip(Parsed(dir_.Sub("siem.log"), events.size()), events);
}

TEST_F(MonitorDaemonTest, TailStreamsLiveEventsThroughTheFilter) {
  StartRsyslog();
  StartMonitor(absl::StrCat("udp://127.0.0.1:", udp_port_));
  ASSERT_EQ(
      Cli({"monitor", "target", "add", "t1", "--vm", "vms/v1", "--cgroup", cgroup_}).exit_code, 0);
  auto tail = std::async(std::launch::async, [&] {
    return Cli(
        {"-o", "json", "monitor", "tail", "--target", "t1", "--syscall", "execve", "-n", "2"});
  });
  absl::SleepFor(absl::Milliseconds(500));  // subscribed
  for (int i = 0;
       i < 20 && tail.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready; ++i) {
    ASSERT_EQ(InCgroup("/bin/true; cat /etc/hostname >/dev/null").exit_code, 0);
    absl::SleepFor(absl::Milliseconds(100));
  }
  auto r = tail.get();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  int lines = 0;
  for (absl::string_view line : absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
    auto j = json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_EQ(j["syscall"]["name"], "execve") << "only what the filter asked for";
    EXPECT_EQ(j["vm"], "vms/v1");
    ++lines;
  }
  EXPECT_EQ(lines, 2) << "-n 2 stops after two";
  auto bad = Cli({"monitor", "tail", "--syscall", "nosuch"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("not an x86-64 system call"), std::string::npos) << bad.err;
}

// A client that stops reading loses the oldest events, is told how many on
// the next one it gets, and neither slows nor grows the monitor.
TEST_F(MonitorDaemonTest, ASlowStreamLosesTheOldestAndIsToldHowMany) {
  StartRsyslog();
  StartMonitor(absl::StrCat("udp://127.0.0.1:", udp_port_));
  ASSERT_EQ(
      Cli({"monitor", "target", "add", "t1", "--vm", "vms/v1", "--cgroup", cgroup_}).exit_code, 0);
  auto channel = MakeChannel("unix:" + dir_.Sub("m.sock"), {});
  ASSERT_TRUE(channel.ok()) << channel.status();
  auto stub = ::clawos::monitor::v1::MonitorService::NewStub(*channel);
  grpc::ClientContext ctx;
  ::clawos::monitor::v1::StreamEventsRequest req;
  req.mutable_filter()->add_vms("vms/v1");
  auto reader = stub->StreamEvents(&ctx, req);
  absl::SleepFor(absl::Milliseconds(500));  // subscribed; now it reads nothing
  // Far more events than the ring (8192) and the stream's flow-control
  // window hold; the shell's redirections are openat calls.
  ASSERT_EQ(
      InCgroup("i=0; while [ $i -lt 30000 ]; do : </etc/hostname; i=$((i+1)); done").exit_code, 0);
  ::clawos::monitor::v1::Event e;
  uint64_t dropped = 0;
  int read = 0;
  while (dropped == 0 && read < 40000 && reader->Read(&e)) {
    ++read;
    dropped += e.dropped_before();
  }
  EXPECT_GT(dropped, 0u) << "after " << read << " events";
  ctx.TryCancel();
  reader->Finish();
  auto stats = Cli({"-o", "json", "monitor", "stats"});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  auto j = json::parse(stats.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << stats.out;
  EXPECT_GE(std::stoull(j.value("stream_drops", std::string("0"))), dropped) << stats.out;
}

TEST_F(MonitorDaemonTest, PolicyAlertsAndKills) {
  std::string policy = R"(
enforce = true
[[rule]]
name = "no-getpgid"
syscalls = ["getpgid"]
severity = "high"
action = "kill"
[[rule]]
name = "no-yes"
binaries = ["/usr/bin/yes"]
severity = "critical"
action = "kill"
[[rule]]
name = "watch-hostname"
syscalls = ["uname"]
severity = "low"
)";
  ASSERT_TRUE(WriteFileAtomic(dir_.Sub("policy.toml"), policy, 0600).ok());
  StartRsyslog();
  StartMonitor(absl::StrCat("udp://127.0.0.1:", udp_port_), {"--policy", dir_.Sub("policy.toml")});
  ASSERT_EQ(
      Cli({"monitor", "target", "add", "t1", "--vm", "vms/v1", "--cgroup", cgroup_}).exit_code, 0);
  auto r = InCgroup(
      "python3 -c 'import os; os.getpgid(0)'; echo getpgid=$?; /usr/bin/yes >/dev/null; echo "
      "yes=$?; uname >/dev/null; echo uname=$?");
  EXPECT_NE(r.out.find("getpgid=137"), std::string::npos) << "SIGKILL in the kernel: " << r.out;
  EXPECT_NE(r.out.find("yes=137"), std::string::npos) << "SIGKILL at exec: " << r.out;
  EXPECT_NE(r.out.find("uname=0"), std::string::npos) << "an alert does not kill: " << r.out;
  std::map<std::string, json> events;
  for (int i = 0; i < 50; ++i) {  // until the uname process's event is in
    events = Events(1);
    bool in = false;
    for (const auto& [seq, e] : events) {
      in = in || (e.value("comm", "") == "uname" && e.value("rule", "") == "watch-hostname");
    }
    if (in) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  int killed = 0, alerted = 0;
  for (const auto& [seq, e] : events) {
    if (e.value("rule", "") == "no-getpgid") {
      EXPECT_EQ(e["severity"], "SEVERITY_HIGH");
      killed += e["action"] == "killed";
    }
    if (e.value("rule", "") == "no-yes" && e["kind"] == "PROCESS_EXEC") {
      EXPECT_EQ(e["severity"], "SEVERITY_CRITICAL");
      killed += e["action"] == "killed";
    }
    if (e.value("rule", "") == "watch-hostname" && e["comm"] == "uname") {
      alerted += e["action"] == "alerted";
    }
  }
  EXPECT_EQ(killed, 2);
  EXPECT_EQ(alerted, 1);
  auto bad = RunCommand({kBin + "/clawos-monitor", "--state-dir", dir_.Sub("s2"), "--policy",
                         dir_.Sub("rsyslog.conf")});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("rsyslog.conf:"), std::string::npos)
      << "names the file and line: " << bad.err;
}

}  // namespace
}  // namespace clawos
