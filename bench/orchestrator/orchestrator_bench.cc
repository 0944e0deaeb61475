// bench_orchestrator: the orchestrator's scheduling overhead. One workflow of
// 50 trivial exec steps (`true`) in a wide DAG on 3 reused VMs, against the
// same 50 commands called directly on the launcher's ExecVm on 3 running VMs
// (3 threads, one per VM: the same parallelism), in the same run.
//
//   sudo build/bench/bench_orchestrator [--image build/guest-image] [--steps 50] [--rounds 3]
//
// VM boots are left out of both sides: the workflow has one warm-up step per
// agent and the 50 steps need their agent's warm-up; the span measured is from
// the last warm-up's end to the workflow's end (the orchestrator's own step
// times). The direct side's VMs are booted before its clock starts. Ratio =
// workflow span / direct span, the median of the rounds. Needs root (cgroups).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
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

}  // namespace

int main(int argc, char** argv) {
  std::string image = "build/guest-image";
  int steps = 50, rounds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--image")) image = argv[i + 1];
    if (!std::strcmp(argv[i], "--steps")) steps = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--rounds")) rounds = std::atoi(argv[i + 1]);
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "bench_orchestrator: needs root (VM cgroups)\n");
    return 1;
  }
  char tmpl[] = "/tmp/clawos-bench-orch-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string parent = absl::StrCat("clawos-bench-orch", getpid());
  auto sub = [&](const std::string& p) { return dir + "/" + p; };
  // The daemons as the integration tests start them (VMs under TCG); no proxy.
  std::vector<std::string> oargv = clawos::testing::OrchestratorArgv(kBin, dir);
  *(std::find(oargv.begin(), oargv.end(), "--proxy-admin") + 1) = "off";
  Daemon identity(clawos::testing::IdentityArgv(kBin, dir), sub("identity.log"));
  Daemon launcher(clawos::testing::LauncherArgv(kBin, dir, parent), sub("launcher.log"),
                  clawos::testing::LauncherEnv(image));
  Daemon orchestrator(oargv, sub("orchestrator.log"));
  for (auto [d, sock] : {std::pair{&identity, "id.sock"}, std::pair{&launcher, "launcher.sock"},
                         std::pair{&orchestrator, "orch.sock"}}) {
    if (!d->WaitForFile(sub(sock))) {
      std::fprintf(stderr, "bench_orchestrator: %s did not come up; logs in %s\n", sock,
                   dir.c_str());
      return 1;
    }
  }
  auto lstub =
      lpb::LauncherService::NewStub(clawos::MakeChannel("unix:" + sub("launcher.sock")).value());
  auto ostub =
      opb::OrchestratorService::NewStub(clawos::MakeChannel("unix:" + sub("orch.sock")).value());
  lpb::ImportImageRequest imp;
  imp.set_image_id("agent");
  imp.set_source_dir(image);
  lpb::Image img;
  if (auto s =
          CallStub(*lstub, &lpb::LauncherService::Stub::ImportImage, imp, &img, absl::Minutes(2));
      !s.ok()) {
    std::fprintf(stderr, "import: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("bench_orchestrator: %d trivial exec steps on 3 reused VMs, %d rounds\n", steps,
              rounds);
  std::printf("%-6s %12s %12s %8s %16s\n", "round", "direct s", "workflow s", "ratio",
              "overhead/step");
  std::vector<double> ratios, overheads;
  for (int r = 0; r < rounds; ++r) {
    double d = Direct(*lstub, steps, r);
    double w = Workflow(*ostub, steps, r);
    if (d <= 0 || w <= 0) {
      std::fprintf(stderr, "round %d failed; logs in %s\n", r, dir.c_str());
      orchestrator.Stop(SIGTERM);
      launcher.Stop(SIGTERM);  // stops its VMs
      clawos::testing::RemoveCgroupParent(parent);
      return 1;
    }
    // Three lanes: each lane runs steps/3 steps one after another.
    double per_step_ms = (w - d) / (steps / 3.0) * 1000;
    ratios.push_back(w / d);
    overheads.push_back(per_step_ms);
    std::printf("%-6d %12.2f %12.2f %8.2f %13.0f ms\n", r, d, w, w / d, per_step_ms);
  }
  std::printf("median ratio %.2f (workflow / direct), median overhead %.0f ms per step per lane\n",
              Median(ratios), Median(overheads));
  orchestrator.Stop(SIGTERM);
  launcher.Stop(SIGTERM);
  identity.Stop(SIGTERM);
  clawos::testing::RemoveCgroupParent(parent);
  std::string cmd = "rm -rf " + dir;
  (void)std::system(cmd.c_str());
  return 0;
}
