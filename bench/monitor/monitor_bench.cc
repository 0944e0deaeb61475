// bench_monitor: what watching costs a busy process. A getppid loop and an
// open/close loop run in a cgroup of their own:
//   - with nothing attached (the baseline),
//   - with clawos-monitor running and another cgroup targeted (filtered out
//     in the kernel),
//   - with clawos-monitor targeting the loop's cgroup (every call counted;
//     openat detailed, as in the default policy), with per-call exit hooks
//     and with the generic sys_exit hook,
//   - with bpftrace counting the same system calls for that cgroup,
//   - with auditd recording the same system calls for that process,
// all in one run. This machine's speed drifts by ±30 % from minute to minute,
// so every round measures the baseline right before its case and the ratio
// shown is the median of the rounds' ratios. Prints ns per call, ratios,
// events/s and lost counts or events. Needs root.
//
//   build/bench/bench_monitor [--n 1000000] [--n-open 100000] [--rounds 5]
//                             [--no-bpftrace] [--no-auditd]
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "clawos/monitor/v1/monitor.grpc.pb.h"
#include "common/grpc_client.h"
#include "common/log.h"
#include "common/testing/subprocess.h"
#include "common/testing/test_cgroup.h"

namespace {

using namespace clawos;
namespace mpb = ::clawos::monitor::v1;
const std::string kBin = CLAWOS_BIN_DIR;

enum class Loop { kGetppid, kOpenClose };

using clawos::testing::TestCgroup;

// A child in `cg` runs the loop when released; ns per call comes back.
class LoopChild {
 public:
  LoopChild(Loop loop, int64_t n, const TestCgroup& cg) {
    if (pipe(go_) != 0 || pipe(result_) != 0) std::abort();
    pid_ = fork();
    if (pid_ == 0) {
      if (!cg.Add(0)) _exit(1);
      char c;
      if (read(go_[0], &c, 1) != 1) _exit(1);
      auto t0 = std::chrono::steady_clock::now();
      for (int64_t i = 0; i < n; ++i) {
        if (loop == Loop::kGetppid) {
          syscall(SYS_getppid);
        } else {
          close(open("/etc/hostname", O_RDONLY));
        }
      }
      double ns =
          std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() /
          static_cast<double>(n);
      if (write(result_[1], &ns, sizeof(ns)) != sizeof(ns)) _exit(1);
      _exit(0);
    }
    absl::SleepFor(absl::Milliseconds(20));  // in its cgroup
  }
  pid_t pid() const { return pid_; }
  double Run() {
    if (write(go_[1], "g", 1) != 1) return -1;
    double ns = -1;
    if (read(result_[0], &ns, sizeof(ns)) != sizeof(ns)) ns = -1;
    waitpid(pid_, nullptr, 0);
    for (int fd : {go_[0], go_[1], result_[0], result_[1]}) close(fd);
    return ns;
  }

 private:
  int go_[2], result_[2];
  pid_t pid_ = -1;
};

int g_rounds = 5;

// One run of each loop: ns per call.
struct Sample {
  double getppid = 0, open = 0;
};

Sample Once(int64_t n, int64_t n_open, const TestCgroup& cg) {
  return {LoopChild(Loop::kGetppid, n, cg).Run(), LoopChild(Loop::kOpenClose, n_open, cg).Run()};
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// A case measured over rounds, each paired with the baseline taken just
// before it.
struct Row {
  std::string name;
  std::vector<Sample> base, with;
  std::string events = "-", lost = "-";

  void Add(const Sample& b, const Sample& w) {
    base.push_back(b);
    with.push_back(w);
  }
  double Ns(double Sample::*f) const {
    std::vector<double> v;
    for (const auto& x : with) v.push_back(x.*f);
    return Median(v);
  }
  // The median of the rounds' ratios, and their range.
  std::string Ratio(double Sample::*f) const {
    std::vector<double> v;
    for (size_t i = 0; i < with.size(); ++i) v.push_back(with[i].*f / base[i].*f);
    if (v.empty()) return "-";
    auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    return absl::StrFormat("%.2f (%.2f-%.2f)", Median(v), *lo, *hi);
  }
};

std::unique_ptr<mpb::MonitorService::Stub> Stub(const std::string& sock) {
  return mpb::MonitorService::NewStub(MakeChannel("unix:" + sock, {}).value());
}

bool Target(mpb::MonitorService::Stub& s, const std::string& id, const TestCgroup& cg) {
  mpb::CreateTargetRequest req;
  req.set_target_id(id);
  req.set_vm("vms/" + id);
  req.set_cgroup_path(cg.path());
  mpb::Target t;
  auto ctx = MakeClientContext();
  grpc::Status st = s.CreateTarget(ctx.get(), req, &t);
  if (!st.ok()) std::fprintf(stderr, "CreateTarget: %s\n", st.error_message().c_str());
  return st.ok();
}

// The target's stats and the daemon's kind of exit hook.
std::optional<std::pair<mpb::TargetStats, std::string>> Stats(mpb::MonitorService::Stub& s,
                                                              const std::string& id) {
  mpb::GetStatsRequest req;
  req.add_targets("targets/" + id);
  mpb::Stats out;
  auto ctx = MakeClientContext();
  if (!s.GetStats(ctx.get(), req, &out).ok() || out.targets_size() != 1) return std::nullopt;
  return std::make_pair(out.targets(0), out.exit_hooks());
}

}  // namespace

int main(int argc, char** argv) {
  int64_t n = 1000000, n_open = 100000;
  bool no_bpftrace = false, no_auditd = false;
  CLI::App app{"bench_monitor: the cost of clawos-monitor vs bpftrace and auditd"};
  app.add_option("--n", n, "getppid calls per case")->capture_default_str();
  app.add_option("--n-open", n_open, "open+close pairs per case")->capture_default_str();
  app.add_option("--rounds", g_rounds, "Rounds per case, each with its own baseline")
      ->capture_default_str();
  app.add_flag("--no-bpftrace", no_bpftrace);
  app.add_flag("--no-auditd", no_auditd);
  CLI11_PARSE(app, argc, argv);
  log::Init("bench_monitor", "error");
  if (geteuid() != 0) {
    std::fprintf(stderr, "bench_monitor needs root (BPF, cgroups, audit)\n");
    return 1;
  }
  char tmpl[] = "/tmp/bench_monitor.XXXXXX";
  std::string dir = mkdtemp(tmpl);
  TestCgroup loop_cg("clawos-bench-loop");
  TestCgroup other_cg("clawos-bench-other");
  if (!loop_cg.ok() || !other_cg.ok()) {
    std::fprintf(stderr, "cannot make test cgroups under /sys/fs/cgroup\n");
    return 1;
  }
  std::vector<Row> rows;
  int failures = 0;
  Row base_row{"baseline (nothing attached)"};
  int round_no = 0;
  auto baseline = [&] {
    Sample b = Once(n, n_open, loop_cg);
    base_row.Add(b, b);
    return b;
  };

  // clawos-monitor, the daemon as users run it (events to JSONL), started
  // afresh each round so the baseline can run with nothing attached.
  auto run_monitor = [&](const std::string& exit_hooks) -> bool {
    std::string label = "clawos-monitor (" + exit_hooks + " exit)";
    Row other{label + ", another cgroup targeted"};
    Row mine{label + ", the loop's cgroup targeted"};
    uint64_t emitted = 0, dropped = 0;
    double secs = 0;
    int inexact = 0;
    for (int round = 0; round < g_rounds; ++round) {
      Sample b = baseline();
      std::string tag = absl::StrCat(exit_hooks, "-", ++round_no);
      std::string sock = dir + "/m-" + tag + ".sock";
      testing::Daemon mon(
          {kBin + "/clawos-monitor", "--state-dir", dir + "/state-" + tag, "--listen",
           "unix:" + sock, "--metrics-listen", "off", "--exit-hooks", exit_hooks},
          dir + "/monitor-" + tag + ".log");
      if (!mon.WaitForFile(sock)) {
        std::fprintf(stderr, "clawos-monitor did not start:\n%s\n", mon.Log().c_str());
        return false;
      }
      auto stub = Stub(sock);
      if (!Target(*stub, "other", other_cg)) return false;
      absl::SleepFor(absl::Milliseconds(300));  // let the start-up settle
      other.Add(b, Once(n, n_open, loop_cg));
      if (!Target(*stub, "loop", loop_cg)) return false;
      auto t0 = std::chrono::steady_clock::now();
      mine.Add(b, Once(n, n_open, loop_cg));
      secs += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      absl::SleepFor(absl::Milliseconds(300));
      auto got = Stats(*stub, "loop");
      if (!got) {
        ++inexact;  // the exact counts could not be checked
        continue;
      }
      if (got->second != exit_hooks) {
        std::fprintf(stderr, "asked for %s exit hooks, the daemon runs %s\n", exit_hooks.c_str(),
                     got->second.c_str());
        ++inexact;
      }
      const auto& counts = got->first.syscall_counts();
      uint64_t getppid = counts.count("getppid") ? counts.at("getppid") : 0;
      uint64_t opens = counts.count("openat") ? counts.at("openat") : 0;
      if (getppid != static_cast<uint64_t>(n) || opens != static_cast<uint64_t>(n_open)) {
        std::fprintf(stderr, "round %d: counted %lu getppid of %ld, %lu openat of %ld\n", round,
                     getppid, n, opens, n_open);
        ++inexact;
      }
      emitted += got->first.events_emitted();
      dropped += got->first.events_dropped();
    }
    mine.events = absl::StrCat(static_cast<int64_t>(emitted / std::max(secs, 1e-9)), "/s");
    failures += inexact;
    mine.lost = absl::StrCat("counts exact in ", g_rounds - inexact, "/", g_rounds,
                             " rounds; events lost ", dropped, " of ", emitted + dropped);
    rows.push_back(other);
    rows.push_back(mine);
    return true;
  };
  if (!run_monitor("per-call") || !run_monitor("generic")) return 1;

  if (!no_bpftrace && std::filesystem::exists("/usr/bin/bpftrace")) {
    // bpftrace's tracepoints need tracefs; mounted here, unmounted after.
    bool mounted = !std::filesystem::exists("/sys/kernel/tracing/events") &&
                   mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) == 0;
    std::string script =
        absl::StrCat("tracepoint:raw_syscalls:sys_enter /cgroup == cgroupid(\"", loop_cg.path(),
                     "\")/ { @[args->id] = count(); } END { print(@); clear(@); }");
    Row r{"bpftrace, counting the loop's cgroup"};
    int exact = 0;
    for (int round = 0; round < g_rounds; ++round) {
      Sample b = baseline();
      testing::Daemon bt({"/usr/bin/bpftrace", "-e", script},
                         absl::StrCat(dir, "/bpftrace-", round, ".log"));
      for (int i = 0; i < 100 && bt.Log().find("Attaching") == std::string::npos; ++i) {
        absl::SleepFor(absl::Milliseconds(100));
      }
      absl::SleepFor(absl::Milliseconds(300));
      r.Add(b, Once(n, n_open, loop_cg));
      bt.Stop(SIGINT);
      std::string log = bt.Log();
      size_t at = log.find("@[110]: ");
      exact += at != std::string::npos && std::atoll(log.c_str() + at + 8) == n;
    }
    r.lost = absl::StrCat("getppid counts exact in ", exact, "/", g_rounds, " rounds");
    rows.push_back(r);
    if (mounted) umount("/sys/kernel/tracing");
  } else {
    std::printf("bpftrace: SKIPPED (%s)\n", no_bpftrace ? "--no-bpftrace" : "not installed");
  }

  if (!no_auditd && std::filesystem::exists("/usr/sbin/auditd")) {
    // auditd enables auditing when it starts; the state before is restored.
    bool was_enabled = testing::RunCommand({"/usr/sbin/auditctl", "-s"}).out.find("enabled 1") !=
                       std::string::npos;
    Sample b = baseline();
    std::string alog = dir + "/audit.log";
    std::ofstream(dir + "/auditd.conf")
        << "log_file = " << alog << "\nlog_format = RAW\nflush = none\nmax_log_file = 4096\n"
        << "max_log_file_action = ignore\nspace_left = 2\nadmin_space_left = 1\n"
        << "disk_full_action = ignore\ndisk_error_action = ignore\n";
    chmod((dir + "/auditd.conf").c_str(), 0640);
    testing::Daemon ad({"/usr/sbin/auditd", "-f", "-n", "-c", dir}, dir + "/auditd.out");
    absl::SleepFor(absl::Seconds(1));
    testing::RunCommand({"/usr/sbin/auditctl", "-e", "1"});
    auto lost = [] {
      auto r = testing::RunCommand({"/usr/sbin/auditctl", "-s"});
      size_t at = r.out.find("lost ");
      return at == std::string::npos ? int64_t{-1} : std::atoll(r.out.c_str() + at + 5);
    };
    int64_t lost_before = lost();
    Row r{"auditd, recording the loop's process (1 round)"};
    Sample w;
    for (Loop loop : {Loop::kGetppid, Loop::kOpenClose}) {
      LoopChild child(loop, loop == Loop::kGetppid ? n : n_open, loop_cg);
      std::string pid = std::to_string(child.pid());
      auto add = testing::RunCommand({"/usr/sbin/auditctl", "-a", "always,exit", "-F", "arch=b64",
                                      "-S", "getppid", "-S", "openat", "-S", "close", "-F",
                                      "pid=" + pid, "-k", "clawos-bench"});
      if (add.exit_code != 0) std::fprintf(stderr, "auditctl: %s\n", add.err.c_str());
      double ns = child.Run();
      (loop == Loop::kGetppid ? w.getppid : w.open) = ns;
      testing::RunCommand({"/usr/sbin/auditctl", "-D", "-k", "clawos-bench"});
    }
    r.Add(b, w);
    absl::SleepFor(absl::Seconds(1));
    int64_t records = 0;
    {
      std::ifstream f(dir + "/auditd.out");  // auditd -f writes its records to stderr
      std::string line;
      while (std::getline(f, line))
        records += line.find("key=\"clawos-bench\"") != std::string::npos;
    }
    r.lost =
        absl::StrCat(records, " records written, ", lost() - lost_before, " lost (auditctl -s)");
    ad.Stop(SIGTERM);
    if (!was_enabled) testing::RunCommand({"/usr/sbin/auditctl", "-e", "0"});
    rows.push_back(r);
  } else {
    std::printf("auditd: SKIPPED (%s)\n", no_auditd ? "--no-auditd" : "not installed");
  }

  rows.insert(rows.begin(), base_row);
  std::printf("%-58s %8s %-18s %10s %-18s %10s  %s\n", "case", "getppid", "ratio", "open+close",
              "ratio", "events", "lost");
  for (const auto& r : rows) {
    std::printf("%-58s %6.0fns %-18s %8.0fns %-18s %10s  %s\n", r.name.c_str(),
                r.Ns(&Sample::getppid), r.Ratio(&Sample::getppid).c_str(), r.Ns(&Sample::open),
                r.Ratio(&Sample::open).c_str(), r.events.c_str(), r.lost.c_str());
  }
  std::filesystem::remove_all(dir);
  if (failures) std::fprintf(stderr, "clawos-monitor's counts were not exact\n");
  return failures ? 1 : 0;
}
