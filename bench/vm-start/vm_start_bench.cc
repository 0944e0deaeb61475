// bench_vm_start: how long `start` takes to reach RUNNING (the guest agent's
// handshake done) through the launcher, against a bare QEMU boot of the same
// image with the same command line to the same ready marker, interleaved in
// one run, each start once with the VMM jailed (the default) and once
// unjailed (--jail off). Then five concurrent jailed starts (total time) and
// the VMM RSS per VM in both modes.
//
//   build/bench/bench_vm_start [--image build/guest-image] [--boots 5] [--concurrent 5]
// Needs root (cgroups, the jail). The ratio launcher/bare is the launcher's
// own cost (signature and digest checks, cgroup, jail, SQLite, the state
// machine) on top of the boot itself; goal <= 1.10. The ratio jailed/unjailed
// is the jail's; goal <= 1.05.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/process.h"
#include "image/signing.h"
#include "vm-launcher/agent_client.h"
#include "vm-launcher/disk.h"
#include "vm-launcher/guest_config.h"
#include "vm-launcher/launcher.h"

namespace {

using namespace clawos::launcher;

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

int64_t RssKib(pid_t pid) {
  std::ifstream f(absl::StrCat("/proc/", pid, "/status"));
  std::string k;
  int64_t v;
  std::string unit;
  while (f >> k) {
    if (k == "VmRSS:" && f >> v >> unit) return v;
    std::getline(f, unit);
  }
  return 0;
}

// One bare QEMU boot: spawn, wait for the agent's handshake, kill. Seconds.
double BareBoot(const clawos::image::Manifest& m, const std::string& image,
                const std::string& dir) {
  QemuConfig c =
      GuestQemuConfig(m, {image, dir, dir + "/runtime.img", dir + "/workspace.img"}, 1, 256, "tcg");
  for (const std::string* s : {&c.agent_socket, &c.qmp_socket}) ::unlink(s->c_str());
  auto t0 = absl::Now();
  auto pid = clawos::SpawnWithLog(QemuArgv(c), {}, dir + "/qemu.log");
  if (!pid.ok()) {
    std::fprintf(stderr, "bare boot: %s\n", std::string(pid.status().message()).c_str());
    std::exit(1);
  }
  auto alive = [p = *pid] { return ::waitpid(p, nullptr, WNOHANG) == 0; };
  auto agent = AgentClient::Connect(c.agent_socket, {}, absl::Now() + absl::Minutes(3), alive);
  double s = absl::ToDoubleSeconds(absl::Now() - t0);
  if (!agent.ok()) {
    std::fprintf(stderr, "bare boot: %s\n", std::string(agent.status().message()).c_str());
    std::exit(1);
  }
  agent->reset();
  ::kill(*pid, SIGKILL);
  ::waitpid(*pid, nullptr, 0);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::string image = "build/guest-image";
  int boots = 5, concurrent = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--image")) image = argv[i + 1];
    if (!std::strcmp(argv[i], "--boots")) boots = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--concurrent")) concurrent = std::atoi(argv[i + 1]);
  }
  image = std::filesystem::absolute(image).string();
  auto manifest = clawos::image::ReadManifest(image);
  auto pub = clawos::image::ParsePublicKey(image + "/../guest-keys/signing.pub");
  if (!manifest.ok() || !pub.ok()) {
    std::fprintf(stderr, "bench_vm_start: need a built, signed image at %s (ctest builds one)\n",
                 image.c_str());
    return 1;
  }
  char tmpl[] = "/tmp/clawos_bench_vm_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string bare_dir = dir + "/bare";
  std::filesystem::create_directories(bare_dir);
  CreateExt4Disk(bare_dir + "/runtime.img", 256).IgnoreError();
  CreateExt4Disk(bare_dir + "/workspace.img", 1024).IgnoreError();

  // Two launchers on the same image: the default (jailed VMMs) and --jail off.
  auto open = [&](const std::string& sub, bool jail) -> std::unique_ptr<Launcher> {
    LauncherConfig config;
    config.state_dir = dir + "/" + sub;
    config.cgroup_parent = "clawos-bench-" + sub;
    config.signing_pubkey = *pub;
    config.max_vms = concurrent + 1;
    config.jail = jail;
    config.jailer = CLAWOS_BIN_DIR "/clawos-jailer";
    auto launcher = Launcher::Open(config, clawos::RealClock::Get());
    if (!launcher.ok()) {
      std::fprintf(stderr, "%s\n", std::string(launcher.status().message()).c_str());
      std::exit(1);
    }
    if (auto s = (*launcher)->ImportImage("agent", image); !s.ok()) {
      std::fprintf(stderr, "%s\n", std::string(s.status().message()).c_str());
      std::exit(1);
    }
    return std::move(*launcher);
  };
  std::unique_ptr<Launcher> jailed_launcher = open("jailed", true);
  std::unique_ptr<Launcher> plain_launcher = open("plain", false);
  Launcher& l = *jailed_launcher;
  VmSpec spec;
  spec.image = "agent";
  spec.name = "seq";
  l.CreateVm(spec).IgnoreError();
  plain_launcher->CreateVm(spec).IgnoreError();

  // One timed start → RUNNING, the VMM's RSS, then a forced stop.
  auto start = [](Launcher& on, std::vector<double>* times, int64_t* rss) {
    auto t0 = absl::Now();
    auto vm = on.StartVm("seq");
    times->push_back(absl::ToDoubleSeconds(absl::Now() - t0));
    if (!vm.ok()) {
      std::fprintf(stderr, "start: %s\n", std::string(vm.status().message()).c_str());
      std::exit(1);
    }
    *rss = std::max(*rss, RssKib(static_cast<pid_t>(vm->pid)));
    on.StopVm("seq", absl::ZeroDuration(), true).IgnoreError();
  };
  std::vector<double> bare, launched, plain;
  int64_t jailed_rss = 0, plain_rss = 0;
  BareBoot(*manifest, image, bare_dir);  // warm the page cache for all
  for (int i = 0; i < boots; ++i) {
    bare.push_back(BareBoot(*manifest, image, bare_dir));
    start(*plain_launcher, &plain, &plain_rss);
    start(l, &launched, &jailed_rss);
    std::printf("boot %d: bare %.2fs, launcher unjailed %.2fs, jailed %.2fs\n", i + 1, bare.back(),
                plain.back(), launched.back());
  }
  double bm = Percentile(bare, 0.5), lm = Percentile(launched, 0.5), pm = Percentile(plain, 0.5);
  std::printf("\nstart -> RUNNING over %d boots (TCG, 1 vCPU, 256 MiB):\n", boots);
  std::printf("  bare QEMU boot            median %.2fs  p90 %.2fs\n", bm, Percentile(bare, 0.9));
  std::printf("  launcher start, unjailed  median %.2fs  p90 %.2fs\n", pm, Percentile(plain, 0.9));
  std::printf("  launcher start, jailed    median %.2fs  p90 %.2fs\n", lm,
              Percentile(launched, 0.9));
  std::printf("  ratio launcher (jailed)/bare, median   %.3f  (goal <= 1.10)\n", lm / bm);
  std::printf("  ratio jailed/unjailed start, median    %.3f  (goal <= 1.05)\n", lm / pm);
  std::printf("  VMM RSS: jailed %.0f MiB, unjailed %.0f MiB\n", jailed_rss / 1024.0,
              plain_rss / 1024.0);
  plain_launcher->DeleteVm("seq", true).IgnoreError();
  plain_launcher.reset();

  std::vector<std::string> names;
  for (int i = 0; i < concurrent; ++i) {
    spec.name = absl::StrCat("c", i);
    l.CreateVm(spec).IgnoreError();
    names.push_back(spec.name);
  }
  auto t0 = absl::Now();
  std::vector<std::future<absl::StatusOr<Vm>>> starts;
  for (const auto& n : names) {
    starts.push_back(std::async(std::launch::async, [&l, n] { return l.StartVm(n); }));
  }
  std::vector<pid_t> pids;
  for (auto& f : starts) {
    auto vm = f.get();
    if (!vm.ok()) {
      std::fprintf(stderr, "concurrent start: %s\n", std::string(vm.status().message()).c_str());
      return 1;
    }
    pids.push_back(static_cast<pid_t>(vm->pid));
  }
  double total = absl::ToDoubleSeconds(absl::Now() - t0);
  int64_t rss = 0;
  for (pid_t p : pids) rss += RssKib(p);
  std::printf("\n%d concurrent starts: all RUNNING after %.2fs (%.2fs per VM on this host)\n",
              concurrent, total, total / concurrent);
  std::printf("VMM RSS: %.0f MiB per VM on average (guest memory 256 MiB, TCG)\n",
              static_cast<double>(rss) / static_cast<double>(pids.size()) / 1024.0);
  for (const auto& n : names) l.DeleteVm(n, true).IgnoreError();
  l.DeleteVm("seq", true).IgnoreError();
  jailed_launcher.reset();
  std::filesystem::remove_all(dir);
  for (const char* sub : {"jailed", "plain"}) {
    for (const char* h : {"/unified", "/memory", "/cpu", "/pids", ""}) {
      ::rmdir(absl::StrCat("/sys/fs/cgroup", h, "/clawos-bench-", sub).c_str());
    }
  }
  return 0;
}
