// bench_vm_start: how long `start` takes to reach RUNNING (the guest agent's
// handshake done) through the launcher, against a bare QEMU boot of the same
// image with the same command line to the same ready marker, interleaved in
// one run:
//   - a cold boot, jailed (the default VMM) and unjailed (--jail off);
//   - a restore from the VM shape's template (docs/vm-launcher.md), jailed;
// then N concurrent starts, cold and from the template (all RUNNING after),
// and with N idle VMs of each kind running: the VMM's RSS and PSS per VM and
// its idle CPU.
//
//   build/bench/bench_vm_start [--image build/guest-image] [--boots 5] [--concurrent 10]
// Needs root (cgroups, the jail). Ratios: cold launcher/bare is the
// launcher's own cost (goal <= 1.10); jailed/unjailed the jail's (goal <=
// 1.05); cold/template the templates' gain (goal >= 5, template median <=
// 0.5 s, 10 concurrent template starts <= 3 s, PSS per idle VM <= 40 MiB).
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
#include <sstream>
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

// A field of /proc/<pid>/status or smaps_rollup ("VmRSS:", "Pss:"), KiB.
int64_t ProcKib(pid_t pid, const char* file, const char* key) {
  std::ifstream f(absl::StrCat("/proc/", pid, "/", file));
  std::string k;
  int64_t v;
  std::string unit;
  while (f >> k) {
    if (k == key && f >> v >> unit) return v;
    std::getline(f, unit);
  }
  return 0;
}

int64_t RssKib(pid_t pid) { return ProcKib(pid, "status", "VmRSS:"); }
int64_t PssKib(pid_t pid) { return ProcKib(pid, "smaps_rollup", "Pss:"); }

// utime + stime of `pid`, clock ticks.
int64_t CpuTicks(pid_t pid) {
  std::ifstream f(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  std::getline(f, line);
  size_t close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  int64_t ut = 0, st = 0;
  for (int i = 3; rest >> field; ++i) {
    if (i == 14) ut = std::atoll(field.c_str());
    if (i == 15) {
      st = std::atoll(field.c_str());
      break;
    }
  }
  return ut + st;
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

// One timed start -> RUNNING (cold or from the template), the VMM's RSS,
// then a forced stop.
void TimedStart(Launcher& on, bool cold, std::vector<double>* times, int64_t* rss) {
  StartOptions o;
  o.cold = cold;
  auto t0 = absl::Now();
  auto vm = on.StartVm("seq", o);
  times->push_back(absl::ToDoubleSeconds(absl::Now() - t0));
  if (!vm.ok() || vm->template_id.empty() != cold) {
    std::fprintf(
        stderr, "start: %s\n",
        vm.ok() ? "restored/booted unlike asked" : std::string(vm.status().message()).c_str());
    std::exit(1);
  }
  *rss = std::max(*rss, RssKib(static_cast<pid_t>(vm->pid)));
  on.StopVm("seq", absl::ZeroDuration(), true).IgnoreError();
}

// N VMs started at once; prints when all run and, once they idle, their
// VMMs' RSS, PSS and CPU; then deletes them.
void Concurrent(Launcher& l, int n, bool cold) {
  const char* kind = cold ? "cold" : "template";
  VmSpec spec;
  spec.image = "agent";
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) {
    spec.name = absl::StrCat(cold ? "c" : "t", i);
    l.CreateVm(spec).IgnoreError();
    names.push_back(spec.name);
  }
  StartOptions o;
  o.cold = cold;
  auto t0 = absl::Now();
  std::vector<std::future<absl::StatusOr<Vm>>> starts;
  for (const auto& name : names) {
    starts.push_back(std::async(std::launch::async, [&l, name, o] { return l.StartVm(name, o); }));
  }
  std::vector<pid_t> pids;
  for (auto& f : starts) {
    auto vm = f.get();
    if (!vm.ok()) {
      std::fprintf(stderr, "concurrent start: %s\n", std::string(vm.status().message()).c_str());
      std::exit(1);
    }
    pids.push_back(static_cast<pid_t>(vm->pid));
  }
  double total = absl::ToDoubleSeconds(absl::Now() - t0);
  absl::SleepFor(absl::Seconds(5));  // let them settle into idle
  int64_t rss = 0, pss = 0, ticks0 = 0, ticks1 = 0;
  for (pid_t p : pids) ticks0 += CpuTicks(p);
  absl::SleepFor(absl::Seconds(10));
  for (pid_t p : pids) {
    ticks1 += CpuTicks(p);
    rss += RssKib(p);
    pss += PssKib(p);
  }
  double per = static_cast<double>(pids.size());
  double cpu = static_cast<double>(ticks1 - ticks0) / static_cast<double>(sysconf(_SC_CLK_TCK)) /
               10.0 / per * 100.0;
  std::printf("\n%d concurrent %s starts: all RUNNING after %.2fs\n", n, kind, total);
  std::printf("  with %d idle %s VMs: VMM RSS %.0f MiB, PSS %.0f MiB, CPU %.1f %% per VM\n", n,
              kind, static_cast<double>(rss) / per / 1024.0,
              static_cast<double>(pss) / per / 1024.0, cpu);
  for (const auto& name : names) l.DeleteVm(name, true).IgnoreError();
}

}  // namespace

int main(int argc, char** argv) {
  std::string image = "build/guest-image";
  int boots = 5, concurrent = 10;
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
  auto made = l.MakeTemplate("agent", spec);
  if (!made.ok()) {
    std::fprintf(stderr, "template: %s\n", std::string(made.status().message()).c_str());
    return 1;
  }
  std::printf("template %s made in %.2fs (%lld MiB of guest memory stored)\n", made->id.c_str(),
              absl::ToDoubleSeconds(made->build_time),
              static_cast<long long>(made->ram_data_bytes >> 20));

  std::vector<double> bare, cold, plain, restored;
  int64_t jailed_rss = 0, plain_rss = 0, restored_rss = 0;
  BareBoot(*manifest, image, bare_dir);  // warm the page cache for all
  for (int i = 0; i < boots; ++i) {
    bare.push_back(BareBoot(*manifest, image, bare_dir));
    TimedStart(*plain_launcher, true, &plain, &plain_rss);
    TimedStart(l, true, &cold, &jailed_rss);
    TimedStart(l, false, &restored, &restored_rss);
    std::printf("start %d: bare %.2fs, cold unjailed %.2fs, cold jailed %.2fs, template %.2fs\n",
                i + 1, bare.back(), plain.back(), cold.back(), restored.back());
  }
  double bm = Percentile(bare, 0.5), cm = Percentile(cold, 0.5), pm = Percentile(plain, 0.5),
         tm = Percentile(restored, 0.5);
  std::printf("\nstart -> RUNNING over %d starts (TCG, 1 vCPU, 256 MiB):\n", boots);
  std::printf("  bare QEMU boot                 median %.2fs  p90 %.2fs\n", bm,
              Percentile(bare, 0.9));
  std::printf("  launcher cold boot, unjailed   median %.2fs  p90 %.2fs\n", pm,
              Percentile(plain, 0.9));
  std::printf("  launcher cold boot, jailed     median %.2fs  p90 %.2fs\n", cm,
              Percentile(cold, 0.9));
  std::printf("  launcher template restore      median %.2fs  p90 %.2fs  (goal <= 0.5s)\n", tm,
              Percentile(restored, 0.9));
  std::printf("  ratio cold launcher (jailed)/bare, median  %.3f  (goal <= 1.10)\n", cm / bm);
  std::printf("  ratio jailed/unjailed cold boot, median    %.3f  (goal <= 1.05)\n", cm / pm);
  std::printf("  speedup cold/template, median              %.1fx  (goal >= 5)\n", cm / tm);
  std::printf(
      "  VMM RSS just after RUNNING: cold jailed %.0f MiB, unjailed %.0f MiB, template "
      "%.0f MiB\n",
      jailed_rss / 1024.0, plain_rss / 1024.0, restored_rss / 1024.0);
  plain_launcher->DeleteVm("seq", true).IgnoreError();
  plain_launcher.reset();
  l.DeleteVm("seq", true).IgnoreError();

  Concurrent(l, concurrent, false);
  Concurrent(l, concurrent, true);
  jailed_launcher.reset();
  std::filesystem::remove_all(dir);
  for (const char* sub : {"jailed", "plain"}) {
    for (const char* h : {"/unified", "/memory", "/cpu", "/pids", ""}) {
      ::rmdir(absl::StrCat("/sys/fs/cgroup", h, "/clawos-bench-", sub).c_str());
    }
  }
  return 0;
}
