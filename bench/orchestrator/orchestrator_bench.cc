// bench_orchestrator: what the orchestrator costs and what users wait for.
//
//   sudo build/bench/bench_orchestrator [--image build/guest-image] [--steps 50] [--rounds 3]
//                                       [--only overhead|e2e]
//
// 1. Scheduling overhead: one workflow of 50 trivial exec steps (`true`) in a
//    wide DAG on 3 reused VMs, against the same 50 commands called directly on
//    the launcher's ExecVm on 3 running VMs (3 threads, one per VM: the same
//    parallelism), in the same run. VM boots are left out of both sides: the
//    workflow has one warm-up step per agent and the 50 steps need their
//    agent's warm-up; the span measured is from the last warm-up's end to the
//    workflow's end (the orchestrator's own step times). The direct side's VMs
//    are booted before its clock starts. Ratio = workflow span / direct span,
//    the median of the rounds.
// 2. End to end, VM starts included: docs/examples/fan-in.yaml (one agent VM)
//    and docs/examples/fan-out.yaml (ten agent VMs at once), submit to
//    SUCCEEDED, on a launcher with --templates off and then one with
//    --templates on (its template made by the first start, reported apart).
//    Ratio = median off / median on.
// Needs root (cgroups).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "clawos/launcher/v1/launcher.grpc.pb.h"
#include "clawos/orchestrator/v1/orchestrator.grpc.pb.h"
#include "common/grpc_client.h"
#include "common/testing/daemon_argv.h"
#include "common/testing/subprocess.h"
#include "common/testing/test_image.h"

namespace {

namespace opb = ::clawos::orchestrator::v1;
namespace lpb = ::clawos::launcher::v1;
using clawos::CallStub;
using clawos::testing::Daemon;

const std::string kBin = CLAWOS_BIN_DIR;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int64_t Us(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000000 + t.nanos() / 1000;
}

bool Exec(lpb::LauncherService::Stub& stub, const std::string& vm) {
  lpb::ExecVmRequest req;
  req.set_name(vm);
  req.add_argv("true");
  auto ctx = clawos::MakeClientContext(absl::Minutes(1));
  auto r = stub.ExecVm(ctx.get(), req);
  lpb::ExecVmResponse m;
  int code = -1;
  while (r->Read(&m)) {
    if (m.has_exit()) code = m.exit().exit_code();
  }
  return r->Finish().ok() && code == 0;
}

// Seconds for `steps` direct execs on 3 VMs, one thread per VM.
double Direct(lpb::LauncherService::Stub& stub, int steps, int round) {
  std::vector<std::string> vms;
  for (int i = 0; i < 3; ++i) {
    std::string id = absl::StrCat("direct-", round, "-", i);
    lpb::CreateVmRequest c;
    c.set_vm_id(id);
    c.mutable_spec()->set_image("images/agent");
    c.mutable_spec()->set_memory_mib(256);
    c.set_start(true);
    lpb::Vm vm;
    if (!CallStub(stub, &lpb::LauncherService::Stub::CreateVm, c, &vm, absl::Minutes(5)).ok())
      return -1;
    vms.push_back("vms/" + id);
  }
  absl::Time t0 = absl::Now();
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      for (int n = i; n < steps; n += 3) failed += Exec(stub, vms[i]) ? 0 : 1;
    });
  }
  for (auto& t : threads) t.join();
  double secs = absl::ToDoubleSeconds(absl::Now() - t0);
  for (const auto& vm : vms) {
    lpb::DeleteVmRequest d;
    d.set_name(vm);
    d.set_force(true);
    google::protobuf::Empty e;
    (void)CallStub(stub, &lpb::LauncherService::Stub::DeleteVm, d, &e, absl::Minutes(1));
  }
  return failed ? -1 : secs;
}

std::string Spec(int steps) {
  std::string s = "name: bench\nmax_parallel: 3\nagents:\n";
  for (int i = 0; i < 3; ++i) absl::StrAppend(&s, "  a", i, ": {memory_mib: 256}\n");
  s += "steps:\n";
  for (int i = 0; i < 3; ++i)
    absl::StrAppend(&s, "  - {id: warm", i, ", agent: a", i, ", exec: [true]}\n");
  for (int n = 0; n < steps; ++n) {
    absl::StrAppend(&s, "  - {id: s", n, ", agent: a", n % 3, ", needs: warm", n % 3,
                    ", exec: [true]}\n");
  }
  return s;
}

// Seconds from the last warm-up's end to the workflow's end.
double Workflow(opb::OrchestratorService::Stub& stub, int steps, int round) {
  opb::SubmitWorkflowRequest req;
  req.set_spec(Spec(steps));
  req.set_workflow_id(absl::StrCat("bench-", round));
  opb::Workflow wf;
  if (auto s = CallStub(stub, &opb::OrchestratorService::Stub::SubmitWorkflow, req, &wf); !s.ok()) {
    std::fprintf(stderr, "submit: %s\n", s.ToString().c_str());
    return -1;
  }
  absl::Time end = absl::Now() + absl::Minutes(10);
  while (absl::Now() < end) {
    opb::GetWorkflowRequest g;
    g.set_name(wf.name());
    if (!CallStub(stub, &opb::OrchestratorService::Stub::GetWorkflow, g, &wf).ok()) return -1;
    if (wf.state() == opb::Workflow::SUCCEEDED || wf.state() == opb::Workflow::FAILED) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  if (wf.state() != opb::Workflow::SUCCEEDED) {
    std::fprintf(stderr, "workflow: %s\n", wf.DebugString().c_str());
    return -1;
  }
  int64_t warm_end = 0, last_end = 0;
  for (const auto& s : wf.steps()) {
    if (s.id().rfind("warm", 0) == 0) {
      warm_end = std::max(warm_end, Us(s.end_time()));
    } else {
      last_end = std::max(last_end, Us(s.end_time()));
    }
  }
  return (last_end - warm_end) / 1e6;
}

// The daemons as the integration tests start them (VMs under TCG; no proxy),
// each stack in its own directory under `dir`, the image imported.
class Stack {
 public:
  Stack(const std::string& dir, const std::string& image, const std::vector<std::string>& flags)
      : dir_(dir), parent_(absl::StrCat("clawos-bench-orch", getpid(), "-", ++count_)) {
    (void)std::system(("mkdir -p " + dir).c_str());
    std::vector<std::string> largv = clawos::testing::LauncherArgv(kBin, dir, parent_);
    largv.insert(largv.end(), flags.begin(), flags.end());
    std::vector<std::string> oargv = clawos::testing::OrchestratorArgv(kBin, dir);
    *(std::find(oargv.begin(), oargv.end(), "--proxy-admin") + 1) = "off";
    identity_.emplace(clawos::testing::IdentityArgv(kBin, dir), Sub("identity.log"));
    launcher_.emplace(largv, Sub("launcher.log"), clawos::testing::LauncherEnv(image));
    orchestrator_.emplace(oargv, Sub("orchestrator.log"));
    for (auto [d, sock] :
         {std::pair{&*identity_, "id.sock"}, std::pair{&*launcher_, "launcher.sock"},
          std::pair{&*orchestrator_, "orch.sock"}}) {
      if (!d->WaitForFile(Sub(sock))) {
        std::fprintf(stderr, "bench_orchestrator: %s did not come up; logs in %s\n", sock,
                     dir.c_str());
        return;
      }
    }
    launcher =
        lpb::LauncherService::NewStub(clawos::MakeChannel("unix:" + Sub("launcher.sock")).value());
    orchestrator =
        opb::OrchestratorService::NewStub(clawos::MakeChannel("unix:" + Sub("orch.sock")).value());
    lpb::ImportImageRequest imp;
    imp.set_image_id("agent");
    imp.set_source_dir(image);
    lpb::Image img;
    auto s =
        CallStub(*launcher, &lpb::LauncherService::Stub::ImportImage, imp, &img, absl::Minutes(2));
    if (!s.ok()) std::fprintf(stderr, "import: %s\n", s.ToString().c_str());
    ok_ = s.ok();
  }
  ~Stack() {
    if (orchestrator_) orchestrator_->Stop(SIGTERM);
    if (launcher_) launcher_->Stop(SIGTERM);  // stops its VMs
    if (identity_) identity_->Stop(SIGTERM);
    clawos::testing::RemoveCgroupParent(parent_);
  }
  bool ok() const { return ok_; }
  std::string Sub(const std::string& p) const { return dir_ + "/" + p; }

  std::unique_ptr<lpb::LauncherService::Stub> launcher;
  std::unique_ptr<opb::OrchestratorService::Stub> orchestrator;

 private:
  static inline int count_ = 0;
  std::string dir_, parent_;
  std::optional<Daemon> identity_, launcher_, orchestrator_;
  bool ok_ = false;
};

bool Overhead(Stack& stack, int steps, int rounds) {
  std::printf("bench_orchestrator: %d trivial exec steps on 3 reused VMs, %d rounds\n", steps,
              rounds);
  std::printf("%-6s %12s %12s %8s %16s\n", "round", "direct s", "workflow s", "ratio",
              "overhead/step");
  std::vector<double> ratios, overheads;
  for (int r = 0; r < rounds; ++r) {
    double d = Direct(*stack.launcher, steps, r);
    double w = Workflow(*stack.orchestrator, steps, r);
    if (d <= 0 || w <= 0) {
      std::fprintf(stderr, "round %d failed; logs in %s\n", r, stack.Sub("").c_str());
      return false;
    }
    // Three lanes: each lane runs steps/3 steps one after another.
    double per_step_ms = (w - d) / (steps / 3.0) * 1000;
    ratios.push_back(w / d);
    overheads.push_back(per_step_ms);
    std::printf("%-6d %12.2f %12.2f %8.2f %13.0f ms\n", r, d, w, w / d, per_step_ms);
  }
  std::printf("median ratio %.2f (workflow / direct), median overhead %.0f ms per step per lane\n",
              Median(ratios), Median(overheads));
  return true;
}

// Seconds from submit to SUCCEEDED of the example `file`; -1 on failure.
double Submit(opb::OrchestratorService::Stub& stub, const std::string& file,
              const std::string& id) {
  std::ifstream f(std::string(CLAWOS_SOURCE_DIR) + "/docs/examples/" + file);
  opb::SubmitWorkflowRequest req;
  req.set_spec(std::string((std::istreambuf_iterator<char>(f)), {}));
  req.set_workflow_id(id);
  opb::Workflow wf;
  absl::Time t0 = absl::Now();
  if (auto s = CallStub(stub, &opb::OrchestratorService::Stub::SubmitWorkflow, req, &wf); !s.ok()) {
    std::fprintf(stderr, "submit %s: %s\n", file.c_str(), s.ToString().c_str());
    return -1;
  }
  absl::Time end = t0 + absl::Minutes(10);
  while (absl::Now() < end && wf.state() != opb::Workflow::SUCCEEDED &&
         wf.state() != opb::Workflow::FAILED) {
    absl::SleepFor(absl::Milliseconds(20));
    opb::GetWorkflowRequest g;
    g.set_name(wf.name());
    if (!CallStub(stub, &opb::OrchestratorService::Stub::GetWorkflow, g, &wf).ok()) return -1;
  }
  double secs = absl::ToDoubleSeconds(absl::Now() - t0);
  if (wf.state() != opb::Workflow::SUCCEEDED) {
    std::fprintf(stderr, "workflow %s: %s\n", file.c_str(), wf.DebugString().c_str());
    return -1;
  }
  return secs;
}

// Medians per example, in seconds; empty on failure.
std::map<std::string, double> EndToEnd(Stack& stack, const std::string& mode, int rounds) {
  std::map<std::string, double> medians;
  for (const char* file : {"fan-in.yaml", "fan-out.yaml"}) {
    std::vector<double> times;
    for (int r = 0; r < rounds; ++r) {
      double t = Submit(*stack.orchestrator, file,
                        absl::StrCat(mode, "-", r, "-", std::string(1, file[4])));
      if (t < 0) return {};
      times.push_back(t);
    }
    medians[file] = Median(times);
    std::printf("%-14s %-10s median %6.2f s  (min %.2f, max %.2f)\n", file, mode.c_str(),
                medians[file], *std::min_element(times.begin(), times.end()),
                *std::max_element(times.begin(), times.end()));
  }
  return medians;
}

bool EndToEndBench(const std::string& dir, const std::string& image, int rounds) {
  std::printf("bench_orchestrator: examples end to end (VM starts included), %d rounds\n", rounds);
  std::map<std::string, double> off, on;
  {
    Stack cold(dir + "/cold", image, {"--templates", "off"});
    if (!cold.ok()) return false;
    off = EndToEnd(cold, "cold", rounds);
    if (off.empty()) return false;
  }
  {
    Stack warm(dir + "/templates", image, {"--templates", "on"});
    if (!warm.ok()) return false;
    double first = Submit(*warm.orchestrator, "fan-in.yaml", "first");
    if (first < 0) return false;
    std::printf("%-14s %-10s %6.2f s  (the first start makes the template)\n", "fan-in.yaml",
                "templates", first);
    on = EndToEnd(warm, "templates", rounds);
  }
  if (on.empty()) return false;
  for (const auto& [file, secs] : off) {
    std::printf("%-14s cold / templates = %.2f (%.2f s -> %.2f s)\n", file.c_str(), secs / on[file],
                secs, on[file]);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string image = "build/guest-image", only;
  int steps = 50, rounds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--image")) image = argv[i + 1];
    if (!std::strcmp(argv[i], "--steps")) steps = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--rounds")) rounds = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--only")) only = argv[i + 1];
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "bench_orchestrator: needs root (VM cgroups)\n");
    return 1;
  }
  if (char* abs = realpath(image.c_str(), nullptr)) {  // the launcher takes absolute paths
    image = abs;
    free(abs);
  }
  char tmpl[] = "/tmp/clawos-bench-orch-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  bool ok = true;
  if (only.empty() || only == "overhead") {
    Stack stack(dir + "/overhead", image, {});
    ok = stack.ok() && Overhead(stack, steps, rounds);
  }
  if (ok && (only.empty() || only == "e2e")) ok = EndToEndBench(dir, image, rounds);
  if (!ok) {
    std::fprintf(stderr, "bench_orchestrator: failed; logs in %s\n", dir.c_str());
    return 1;
  }
  (void)std::system(("rm -rf " + dir).c_str());
  return 0;
}
