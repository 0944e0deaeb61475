// The real clawos-orchestrator over the real launcher (VMs under TCG) and
// identity: a fan-out/fan-in DAG whose last step reads the others' outputs,
// retries, a fallback, `continue`, a timeout, a failing workflow, a cancel
// mid-run (its VMs gone), kill -9 of the orchestrator mid-step (resumed, the
// step's side effect counted once), invalid specs refused over gRPC,
// idempotent submits, a step's hostile stdout staying data in the next step's
// script, and VMs of the workflow's ids that are not its own left alone.
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "clawos/launcher/v1/launcher.grpc.pb.h"
#include "clawos/orchestrator/v1/orchestrator.grpc.pb.h"
#include "clawos/proxy/v1/proxy_admin.grpc.pb.h"
#include "common/files.h"
#include "common/grpc_client.h"
#include "common/grpc_util.h"
#include "common/testing/daemon_argv.h"
#include "common/testing/eventually.h"
#include "common/testing/ports.h"
#include "common/testing/subprocess.h"
#include "common/testing/temp_dir.h"
#include "common/testing/test_image.h"

namespace clawos {
namespace {

namespace opb = ::clawos::orchestrator::v1;
namespace lpb = ::clawos::launcher::v1;
namespace ppb = ::clawos::proxy::v1;
using testing::Daemon;

const std::string kBin = CLAWOS_BIN_DIR;

class OrchestratorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    skip_ = testing::VmTestSkipReason(&image_);
    if (!skip_.empty()) return;
    dir_ = new testing::TempDir();
    cgroup_parent_ = absl::StrCat("clawos-test-orch", getpid());
    identity_ = new Daemon(testing::IdentityArgv(kBin, dir_->path()), Sub("identity.log"));
    ASSERT_TRUE(identity_->WaitForFile(Sub("id.sock"))) << identity_->Log();
    // The test upstream stands in for the LLM provider, behind the real proxy.
    upstream_ = new Daemon(
        {"/usr/bin/python3", std::string(CLAWOS_SOURCE_DIR) + "/test/upstream/fake_llm.py",
         "--port-file", Sub("up.port"), "--log", Sub("up.log")},
        Sub("upstream.log"));
    ASSERT_TRUE(upstream_->WaitForFile(Sub("up.port"))) << upstream_->Log();
    std::string up_url = "http://127.0.0.1:" + ReadFile(Sub("up.port")).value();
    int proxy_port = testing::FreeLoopbackPort();
    proxy_ = new Daemon(
        {kBin + "/clawos-inference-proxy", "--listen", absl::StrCat("127.0.0.1:", proxy_port),
         "--state-dir", Sub("proxy"), "--identity", "unix:" + Sub("id.sock"), "--openai-url",
         up_url, "--admin-listen", "unix:" + Sub("admin.sock"), "--metrics-listen", "off"},
        Sub("proxy.log"), {{"CLAWOS_OPENAI_API_KEY", "sk-test"}});
    ASSERT_TRUE(proxy_->WaitForFile(Sub("admin.sock"))) << proxy_->Log();
    proxy_stub_ =
        ppb::ProxyAdminService::NewStub(MakeChannel("unix:" + Sub("admin.sock")).value()).release();
    std::vector<std::string> largv = testing::LauncherArgv(kBin, dir_->path(), cgroup_parent_);
    largv.insert(largv.end(),
                 {"--inference-proxy-url", absl::StrCat("http://127.0.0.1:", proxy_port)});
    launcher_ = new Daemon(largv, Sub("launcher.log"), testing::LauncherEnv(image_));
    ASSERT_TRUE(launcher_->WaitForFile(Sub("launcher.sock"))) << launcher_->Log();
    launcher_stub_ =
        lpb::LauncherService::NewStub(MakeChannel("unix:" + Sub("launcher.sock")).value())
            .release();
    lpb::ImportImageRequest imp;
    imp.set_image_id("agent");
    imp.set_source_dir(image_);
    lpb::Image img;
    ASSERT_TRUE(CallStub(*launcher_stub_, &lpb::LauncherService::Stub::ImportImage, imp, &img,
                         absl::Minutes(2))
                    .ok());
    StartOrchestrator();
  }
  static void StartOrchestrator() {
    orchestrator_ =
        new Daemon(testing::OrchestratorArgv(kBin, dir_->path()), Sub("orchestrator.log"));
    ASSERT_TRUE(orchestrator_->WaitForFile(Sub("orch.sock"))) << orchestrator_->Log();
    delete stub_;
    stub_ = opb::OrchestratorService::NewStub(MakeChannel("unix:" + Sub("orch.sock")).value())
                .release();
  }
  static void TearDownTestSuite() {
    if (!dir_) return;
    delete stub_;
    delete orchestrator_;
    // A workflow a failed test left running leaves VMs: delete them (the
    // launcher killed below would leave their QEMUs running).
    if (launcher_stub_) {
      lpb::ListVmsResponse vms;
      if (CallStub(*launcher_stub_, &lpb::LauncherService::Stub::ListVms, lpb::ListVmsRequest(),
                   &vms)
              .ok()) {
        for (const auto& vm : vms.vms()) {
          lpb::DeleteVmRequest del;
          del.set_name(vm.name());
          del.set_force(true);
          google::protobuf::Empty out;
          CallStub(*launcher_stub_, &lpb::LauncherService::Stub::DeleteVm, del, &out,
                   absl::Minutes(1))
              .IgnoreError();
        }
      }
    }
    for (Daemon* d : {launcher_, proxy_, upstream_, identity_}) delete d;
    delete proxy_stub_;
    delete launcher_stub_;
    testing::RemoveCgroupParent(cgroup_parent_);
    delete dir_;
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
  }
  static std::string Sub(const std::string& p) { return dir_->Sub(p); }

  static absl::StatusOr<opb::Workflow> Submit(const std::string& spec, const std::string& id = "") {
    opb::SubmitWorkflowRequest req;
    req.set_spec(spec);
    req.set_workflow_id(id);
    req.set_source_name("test.yaml");
    opb::Workflow wf;
    absl::Status s = CallStub(*stub_, &opb::OrchestratorService::Stub::SubmitWorkflow, req, &wf);
    if (!s.ok()) return s;
    return wf;
  }
  static opb::Workflow Get(const std::string& name) {
    opb::GetWorkflowRequest req;
    req.set_name(name);
    opb::Workflow wf;
    absl::Status s = CallStub(*stub_, &opb::OrchestratorService::Stub::GetWorkflow, req, &wf);
    EXPECT_TRUE(s.ok()) << s;
    return wf;
  }
  // Polls until the workflow is finished (or `limit` passes).
  static opb::Workflow WaitDone(const std::string& name, absl::Duration limit = absl::Minutes(4)) {
    absl::Time end = absl::Now() + limit;
    opb::Workflow wf;
    while (absl::Now() < end) {
      wf = Get(name);
      auto s = wf.state();
      if (s == opb::Workflow::SUCCEEDED || s == opb::Workflow::FAILED ||
          s == opb::Workflow::CANCELLED)
        break;
      absl::SleepFor(absl::Milliseconds(200));
    }
    return wf;
  }
  static const opb::StepStatus& StepOf(const opb::Workflow& wf, const std::string& id) {
    for (const auto& s : wf.steps()) {
      if (s.id() == id) return s;
    }
    static opb::StepStatus none;
    ADD_FAILURE() << "no step " << id;
    return none;
  }
  static opb::StepOutput Output(const std::string& name, const std::string& step) {
    opb::GetStepOutputRequest req;
    req.set_workflow(name);
    req.set_step(step);
    opb::StepOutput out;
    absl::Status s = CallStub(*stub_, &opb::OrchestratorService::Stub::GetStepOutput, req, &out);
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }
  // The launcher's VMs labelled with this workflow.
  static std::vector<std::string> VmsOf(const std::string& workflow_id) {
    lpb::ListVmsRequest req;
    req.set_filter("labels.workflow=" + workflow_id);
    lpb::ListVmsResponse resp;
    EXPECT_TRUE(CallStub(*launcher_stub_, &lpb::LauncherService::Stub::ListVms, req, &resp).ok());
    std::vector<std::string> out;
    for (const auto& vm : resp.vms()) out.push_back(vm.name());
    return out;
  }
  // The stdout of `argv` run in `vm` through the launcher ("" if it failed).
  static std::string ExecOut(const std::string& vm, const std::vector<std::string>& argv) {
    lpb::ExecVmRequest req;
    req.set_name(vm);
    for (const auto& a : argv) req.add_argv(a);
    auto ctx = MakeClientContext(absl::Seconds(20));
    auto r = launcher_stub_->ExecVm(ctx.get(), req);
    lpb::ExecVmResponse msg;
    std::string out;
    while (r->Read(&msg)) {
      if (msg.has_stdout_chunk()) out += msg.stdout_chunk();
    }
    return r->Finish().ok() ? out : "";
  }
  // A VM made directly at the launcher (left PENDING: never booted).
  static void CreateVm(const std::string& id, const std::map<std::string, std::string>& labels) {
    lpb::CreateVmRequest req;
    req.set_vm_id(id);
    req.mutable_spec()->set_image("images/agent");
    req.mutable_spec()->set_memory_mib(256);
    for (const auto& [k, v] : labels) (*req.mutable_spec()->mutable_labels())[k] = v;
    lpb::Vm vm;
    absl::Status s = CallStub(*launcher_stub_, &lpb::LauncherService::Stub::CreateVm, req, &vm);
    ASSERT_TRUE(s.ok()) << s;
  }
  // The VM's labels; NOT_FOUND if there is no such VM.
  static absl::StatusOr<std::map<std::string, std::string>> LabelsOf(const std::string& id) {
    lpb::GetVmRequest req;
    req.set_name("vms/" + id);
    lpb::Vm vm;
    absl::Status s = CallStub(*launcher_stub_, &lpb::LauncherService::Stub::GetVm, req, &vm);
    if (!s.ok()) return s;
    return std::map<std::string, std::string>(vm.spec().labels().begin(), vm.spec().labels().end());
  }
  static void DeleteVm(const std::string& id) {
    lpb::DeleteVmRequest req;
    req.set_name("vms/" + id);
    req.set_force(true);
    google::protobuf::Empty out;
    EXPECT_TRUE(CallStub(*launcher_stub_, &lpb::LauncherService::Stub::DeleteVm, req, &out,
                         absl::Minutes(1))
                    .ok());
  }
  static std::string Dump(const opb::Workflow& wf) {
    return wf.DebugString() + "\n" + orchestrator_->Log();
  }
  static std::string Id(const opb::Workflow& wf) { return wf.name().substr(10); }

  static inline std::string skip_, image_, cgroup_parent_;
  static inline testing::TempDir* dir_ = nullptr;
  static inline Daemon *identity_ = nullptr, *launcher_ = nullptr, *orchestrator_ = nullptr,
                       *proxy_ = nullptr, *upstream_ = nullptr;
  static inline ppb::ProxyAdminService::Stub* proxy_stub_ = nullptr;
  static inline opb::OrchestratorService::Stub* stub_ = nullptr;
  static inline lpb::LauncherService::Stub* launcher_stub_ = nullptr;
};

int64_t Us(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000000 + t.nanos() / 1000;
}

TEST_F(OrchestratorTest, FanOutFanInPassesOutputsAndCleansUp) {
  auto wf = Submit(R"Y(name: fan
agents:
  main: {memory_mib: 256}
  side: {memory_mib: 256}
steps:
  - id: a
    agent: main
    exec: echo alpha > /workspace/out/a.txt && echo from-a
  - id: b
    agent: main
    needs: a
    exec: sleep 1; echo "b saw $(cat /workspace/in/a/a.txt)"
  - id: c
    agent: side
    needs: a
    exec: echo "c saw {{ steps.a.stdout }}"; echo charlie > /workspace/out/c.txt
  - id: d
    agent: main
    needs: [b, c]
    env: {FROM_B: "{{steps.b.stdout}}"}
    exec: 'echo "d: $FROM_B / {{steps.c.stdout}} / $(cat /workspace/in/c/c.txt) / rc={{steps.c.exit_code}}"'
)Y");
  ASSERT_TRUE(wf.ok()) << wf.status();
  EXPECT_EQ(wf->display_name(), "fan");

  // Watch it to the end: the stream ends by itself after the final event.
  opb::WatchWorkflowRequest wreq;
  wreq.set_name(wf->name());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(4));
  auto reader = stub_->WatchWorkflow(&ctx, wreq);
  opb::WorkflowEvent ev;
  std::vector<std::string> seen;
  while (reader->Read(&ev)) {
    if (!ev.step_id().empty()) {
      seen.push_back(ev.step_id() + ":" +
                     opb::StepStatus::State_Name(StepOf(ev.workflow(), ev.step_id()).state()));
    }
  }
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_NE(std::find(seen.begin(), seen.end(), "d:SUCCEEDED"), seen.end());
  EXPECT_NE(std::find(seen.begin(), seen.end(), "b:RUNNING"), seen.end());
  EXPECT_NE(std::find(seen.begin(), seen.end(), "c:SUCCEEDED"), seen.end());

  opb::Workflow done = Get(wf->name());
  ASSERT_EQ(done.state(), opb::Workflow::SUCCEEDED) << Dump(done);
  EXPECT_EQ(Output(done.name(), "d").stdout_text(),
            "d: b saw alpha / c saw from-a / charlie / rc=0\n");
  opb::StepOutput a = Output(done.name(), "a");
  ASSERT_EQ(a.files_size(), 1);
  EXPECT_EQ(a.files(0).path(), "a.txt");
  EXPECT_EQ(a.files(0).content(), "alpha\n");
  EXPECT_EQ(a.exit_code(), 0);
  // b and c ran at the same time, after a; d after both.
  const auto &sa = StepOf(done, "a"), &sb = StepOf(done, "b"), &sc = StepOf(done, "c"),
             &sd = StepOf(done, "d");
  EXPECT_GE(Us(sb.start_time()), Us(sa.end_time()));
  EXPECT_GE(Us(sc.start_time()), Us(sa.end_time()));
  EXPECT_LT(Us(sc.start_time()), Us(sb.end_time()));
  EXPECT_LT(Us(sb.start_time()), Us(sc.end_time()));
  EXPECT_GE(Us(sd.start_time()), std::max(Us(sb.end_time()), Us(sc.end_time())));
  // One VM per reused agent, both deleted now.
  ASSERT_EQ(done.agents_size(), 2);
  EXPECT_EQ(done.agents(0).vms_size(), 1);
  EXPECT_EQ(done.agents(0).vms(0), "vms/" + Id(done) + "--main");
  EXPECT_EQ(done.agents(0).subject(), "agents/" + Id(done) + "--main");
  EXPECT_TRUE(VmsOf(Id(done)).empty());
}

TEST_F(OrchestratorTest, PromptStepsRunTheAgentLoopThroughTheProxy) {
  auto wf = Submit(R"Y(agents:
  writer: {memory_mib: 256, model: tool-agent}
  capped: {memory_mib: 256, model: tool-agent, limits: {requests_per_minute: 1}}
steps:
  - {id: prep, agent: writer, exec: "mkdir -p /workspace/data && echo prepared"}
  - id: ask
    agent: writer
    needs: prep
    prompt: "What is in /workspace? The last step said {{ steps.prep.stdout }}."
  - id: limited
    agent: capped
    on_failure: continue
    prompt: "Look around."
)Y");
  ASSERT_TRUE(wf.ok()) << wf.status();
  opb::Workflow done = WaitDone(wf->name());
  ASSERT_EQ(done.state(), opb::Workflow::SUCCEEDED) << Dump(done);
  // The model asked for `ls /workspace`, the loop ran it in the VM and sent the
  // listing back; the final answer is the step's output.
  opb::StepOutput ask = Output(done.name(), "ask");
  EXPECT_EQ(ask.exit_code(), 0);
  EXPECT_TRUE(absl::StartsWith(ask.stdout_text(), "workspace: ")) << ask.DebugString();
  EXPECT_TRUE(absl::StrContains(ask.stdout_text(), "data")) << ask.DebugString();
  EXPECT_TRUE(absl::StrContains(ask.transcript(), R"("name":"shell")")) << ask.transcript();
  EXPECT_TRUE(absl::StrContains(ask.transcript(), "exit code 0")) << ask.transcript();
  EXPECT_FALSE(absl::StrContains(ask.transcript(), "killed after"))
      << "the background child it left does not hold the tool call open\n"
      << ask.transcript();
  EXPECT_TRUE(absl::StrContains(ask.transcript(), "The last step said prepared."))
      << ask.transcript();
  // The second request of the capped agent was refused by its limit (429).
  EXPECT_EQ(StepOf(done, "limited").state(), opb::StepStatus::FAILED);
  opb::StepOutput limited = Output(done.name(), "limited");
  EXPECT_EQ(limited.exit_code(), 3);
  EXPECT_TRUE(absl::StrContains(limited.stderr_tail(), "HTTP 429")) << limited.DebugString();
  // The proxy's ledger has the writer's two requests under its VM's subject.
  ppb::QueryUsageRequest q;
  q.set_subject("agents/" + Id(done) + "--writer");
  q.mutable_start_time()->set_seconds(absl::ToUnixSeconds(absl::Now() - absl::Hours(1)));
  ppb::QueryUsageResponse usage;
  ASSERT_TRUE(CallStub(*proxy_stub_, &ppb::ProxyAdminService::Stub::QueryUsage, q, &usage).ok());
  EXPECT_EQ(usage.total().request_count(), 2) << usage.DebugString();
  EXPECT_GT(usage.total().prompt_tokens() + usage.total().completion_tokens(), 0)
      << usage.DebugString();
  EXPECT_TRUE(VmsOf(Id(done)).empty());
}

TEST_F(OrchestratorTest, RetriesFallbackContinueAndTimeout) {
  auto wf = Submit(R"Y(agents:
  w: {memory_mib: 256}
steps:
  - id: flaky
    agent: w
    retries: 3
    backoff: 1s
    exec: echo "try $CLAWOS_ATTEMPT"; [ "$CLAWOS_ATTEMPT" -ge 3 ] || exit 4
  - id: broken
    agent: w
    on_failure: fallback
    fallback: spare
    exec: exit 9
  - id: spare
    agent: w
    exec: echo spare-output
  - id: sloppy
    agent: w
    on_failure: continue
    exec: echo partial; exit 2
  - id: slow
    agent: w
    timeout: 3s
    on_failure: continue
    exec: sleep 60
  - id: after
    agent: w
    needs: [flaky, broken, sloppy, slow]
    exec: echo "{{steps.flaky.stdout}}|{{steps.broken.stdout}}|{{steps.sloppy.exit_code}}"
)Y");
  ASSERT_TRUE(wf.ok()) << wf.status();
  opb::Workflow done = WaitDone(wf->name());
  ASSERT_EQ(done.state(), opb::Workflow::SUCCEEDED) << Dump(done);
  EXPECT_EQ(StepOf(done, "flaky").attempts(), 3);
  EXPECT_EQ(StepOf(done, "flaky").state(), opb::StepStatus::SUCCEEDED);
  EXPECT_EQ(StepOf(done, "broken").state(), opb::StepStatus::FAILED);
  EXPECT_EQ(StepOf(done, "broken").error(), "exit code 9");
  EXPECT_EQ(StepOf(done, "spare").state(), opb::StepStatus::SUCCEEDED);
  EXPECT_EQ(StepOf(done, "spare").fallback_for(), "broken");
  EXPECT_EQ(StepOf(done, "sloppy").state(), opb::StepStatus::FAILED);
  EXPECT_EQ(StepOf(done, "slow").state(), opb::StepStatus::FAILED);
  EXPECT_EQ(StepOf(done, "slow").error(), "timed out after 3s");
  EXPECT_EQ(Output(done.name(), "after").stdout_text(), "try 3|spare-output|2\n");
  // The backoff was waited: 1 s, then 2 s.
  EXPECT_GE(Us(StepOf(done, "flaky").end_time()) - Us(StepOf(done, "flaky").start_time()), 3000000);
  EXPECT_TRUE(VmsOf(Id(done)).empty());
}

TEST_F(OrchestratorTest, AFailedStepFailsTheWorkflowAndSkipsItsDependents) {
  auto wf = Submit(R"Y(agents: {w: {memory_mib: 256}}
steps:
  - {id: bad, agent: w, retries: 1, backoff: 0s, exec: "echo oops >&2; exit 4"}
  - {id: next, agent: w, needs: bad, exec: "echo never"}
)Y");
  ASSERT_TRUE(wf.ok()) << wf.status();
  opb::Workflow done = WaitDone(wf->name());
  ASSERT_EQ(done.state(), opb::Workflow::FAILED) << Dump(done);
  EXPECT_EQ(done.error(), "step \"bad\" failed: exit code 4 (after 2 attempts)");
  EXPECT_EQ(StepOf(done, "bad").attempts(), 2);
  EXPECT_EQ(StepOf(done, "next").state(), opb::StepStatus::SKIPPED);
  EXPECT_EQ(Output(done.name(), "bad").stderr_tail(), "oops\n");
  EXPECT_TRUE(VmsOf(Id(done)).empty());
}

TEST_F(OrchestratorTest, CancelMidRunStopsTheStepAndDeletesTheVms) {
  auto wf = Submit(R"Y(agents: {w: {memory_mib: 256}, f: {memory_mib: 256, vm: fresh}}
steps:
  - {id: long, agent: w, exec: "echo go > /workspace/started; sleep 300"}
  - {id: other, agent: f, exec: "echo go > /workspace/started; sleep 300"}
  - {id: later, agent: w, needs: long, exec: "true"}
)Y");
  ASSERT_TRUE(wf.ok()) << wf.status();
  // Both commands running in their VMs.
  ASSERT_TRUE(testing::Eventually(
      [&] {
        std::vector<std::string> vms = VmsOf(Id(*wf));
        if (vms.size() < 2) return false;
        for (const auto& vm : vms) {
          if (ExecOut(vm, {"cat", "/workspace/started"}) != "go\n") return false;
        }
        return true;
      },
      absl::Minutes(2), absl::Milliseconds(300)))
      << Dump(Get(wf->name()));
  opb::CancelWorkflowRequest req;
  req.set_name(wf->name());
  opb::Workflow resp;
  absl::Time asked = absl::Now();
  ASSERT_TRUE(CallStub(*stub_, &opb::OrchestratorService::Stub::CancelWorkflow, req, &resp).ok());
  EXPECT_EQ(resp.state(), opb::Workflow::CANCELLING);
  opb::Workflow done = WaitDone(wf->name(), absl::Minutes(1));
  ASSERT_EQ(done.state(), opb::Workflow::CANCELLED) << Dump(done);
  EXPECT_LT(FromProtoTime(done.end_time()) - asked, absl::Seconds(30))
      << "the running commands were stopped, not waited for";
  EXPECT_EQ(StepOf(done, "long").state(), opb::StepStatus::CANCELLED);
  EXPECT_EQ(StepOf(done, "other").state(), opb::StepStatus::CANCELLED);
  EXPECT_EQ(StepOf(done, "later").state(), opb::StepStatus::CANCELLED);
  EXPECT_TRUE(VmsOf(Id(done)).empty());
  // Cancelling again changes nothing.
  ASSERT_TRUE(CallStub(*stub_, &opb::OrchestratorService::Stub::CancelWorkflow, req, &resp).ok());
  EXPECT_EQ(resp.state(), opb::Workflow::CANCELLED);
}

TEST_F(OrchestratorTest, KillDashNineMidStepResumesWithoutRunningAnythingTwice) {
  auto wf = Submit(R"Y(agents: {w: {memory_mib: 256}}
steps:
  - {id: count, agent: w, exec: "echo run >> /workspace/counter; sleep 8; echo counted"}
  - {id: check, agent: w, needs: count, exec: "wc -l < /workspace/counter"}
)Y",
                   "resume-me");
  ASSERT_TRUE(wf.ok()) << wf.status();
  // Wait until the command has really started in the guest.
  ASSERT_TRUE(testing::Eventually(
      [] {
        return ExecOut("vms/resume-me--w", {"cat", "/workspace/counter"}) == "run\n";
      },
      absl::Minutes(2), absl::Milliseconds(300)))
      << Dump(Get(wf->name()));
  EXPECT_EQ(orchestrator_->Stop(SIGKILL), 128 + SIGKILL);
  delete orchestrator_;
  StartOrchestrator();
  opb::Workflow done = WaitDone(wf->name());
  ASSERT_EQ(done.state(), opb::Workflow::SUCCEEDED) << Dump(done);
  EXPECT_EQ(StepOf(done, "count").attempts(), 1);
  EXPECT_EQ(Output(done.name(), "count").stdout_text(), "counted\n");
  EXPECT_EQ(Output(done.name(), "check").stdout_text(), "1\n");
  EXPECT_TRUE(absl::StrContains(orchestrator_->Log(), "resuming workflow"));
  EXPECT_TRUE(VmsOf("resume-me").empty());
}

// One step's stdout holds shell code (as a prompt-injected agent's answer
// could). A later step's exec string that uses it, outside quotes, inside "...",
// inside '...' and in a here-document, receives exactly that text and runs none
// of it; only `| raw` runs it (which shows the check can see it happen).
TEST_F(OrchestratorTest, AStepsOutputIsDataNotCodeInTheNextStepsScript) {
  const std::string hostile =
      "$(touch /workspace/pwned) `touch /workspace/pwned` '; touch /workspace/pwned; ' "
      "\"; touch /workspace/pwned; \"";
  auto wf = Submit(R"Y(agents: {w: {memory_mib: 256}}
steps:
  - id: emit
    agent: w
    exec: [printf, '%s\n', '$(touch /workspace/pwned) `touch /workspace/pwned` ''; touch /workspace/pwned; '' "; touch /workspace/pwned; "']
  - id: use
    agent: w
    needs: emit
    exec: |
      printf '[%s]\n' {{ steps.emit.stdout }} "dq: {{ steps.emit.stdout }}" 'sq: {{ steps.emit.stdout }}'
      cat <<EOF
      hd: {{ steps.emit.stdout }}
      EOF
  - {id: look, agent: w, needs: use, exec: [ls, -a, /workspace]}
  - {id: raw, agent: w, needs: look, exec: "echo {{ steps.emit.stdout | raw }}"}
  - {id: look-again, agent: w, needs: raw, exec: [ls, -a, /workspace]}
)Y");
  ASSERT_TRUE(wf.ok()) << wf.status();
  opb::Workflow done = WaitDone(wf->name());
  ASSERT_EQ(done.state(), opb::Workflow::SUCCEEDED) << Dump(done);
  ASSERT_EQ(Output(done.name(), "emit").stdout_text(), hostile + "\n");
  EXPECT_EQ(Output(done.name(), "use").stdout_text(),
            absl::StrCat("[", hostile, "]\n[dq: ", hostile, "]\n[sq: ", hostile, "]\nhd: ", hostile,
                         "\n"));
  std::string look = Output(done.name(), "look").stdout_text();
  EXPECT_TRUE(absl::StrContains(look, "out\n")) << look;
  EXPECT_FALSE(absl::StrContains(look, "pwned")) << "/workspace/pwned exists in the VM:\n" << look;
  EXPECT_TRUE(absl::StrContains(Output(done.name(), "look-again").stdout_text(), "pwned\n"))
      << "| raw runs the text: " << Output(done.name(), "look-again").DebugString();
  EXPECT_TRUE(VmsOf(Id(done)).empty());
}

// VMs with the ids the workflow would use, made by someone else before it ran:
// one without the workflow's labels, one with its workflow label but another
// agent's. Neither is used, recorded as the workflow's, stopped or deleted.
TEST_F(OrchestratorTest, VmsOfItsIdsThatAreNotItsOwnAreNeverUsedOrDeleted) {
  const std::map<std::string, std::string> someone = {{"owner", "someone"}};
  const std::map<std::string, std::string> other_agent = {{"workflow", "not-mine"}, {"agent", "w"}};
  CreateVm("not-mine--w", someone);
  CreateVm("not-mine--1-s", other_agent);
  auto wf = Submit(R"Y(agents: {w: {memory_mib: 256}, f: {memory_mib: 256, vm: fresh}}
steps:
  - {id: r, agent: w, on_failure: continue, exec: "true"}
  - {id: s, agent: f, on_failure: continue, exec: "true"}
)Y",
                   "not-mine");
  ASSERT_TRUE(wf.ok()) << wf.status();
  opb::Workflow done = WaitDone(wf->name(), absl::Minutes(1));
  ASSERT_EQ(done.state(), opb::Workflow::SUCCEEDED) << Dump(done);
  EXPECT_EQ(StepOf(done, "r").state(), opb::StepStatus::FAILED);
  EXPECT_EQ(StepOf(done, "r").error(),
            "vms/not-mine--w exists but is not this one's (label agent=, expected w)");
  EXPECT_EQ(StepOf(done, "s").state(), opb::StepStatus::FAILED);
  EXPECT_EQ(StepOf(done, "s").error(),
            "vms/not-mine--1-s exists but is not this one's (label agent=w, expected f)");
  for (const auto& agent : done.agents()) {
    EXPECT_EQ(agent.vms_size(), 0) << "never recorded as the workflow's: " << Dump(done);
  }
  // Finished, and both are still there as they were.
  EXPECT_EQ(LabelsOf("not-mine--w").value_or(std::map<std::string, std::string>{}), someone);
  EXPECT_EQ(LabelsOf("not-mine--1-s").value_or(std::map<std::string, std::string>{}), other_agent);
  DeleteVm("not-mine--w");
  DeleteVm("not-mine--1-s");
}

// The workflow's VM, recorded as its own, is deleted while the orchestrator is
// down, and someone else makes a VM of the same id. The restarted orchestrator
// neither runs the step in it nor deletes it when the workflow ends.
TEST_F(OrchestratorTest, AVmReplacedWhileTheOrchestratorWasDownIsLeftAlone) {
  auto wf = Submit(R"Y(agents: {w: {memory_mib: 256}}
steps:
  - {id: hold, agent: w, exec: "echo go > /workspace/started; sleep 300"}
)Y",
                   "replaced");
  ASSERT_TRUE(wf.ok()) << wf.status();
  ASSERT_TRUE(testing::Eventually(
      [] {
        return ExecOut("vms/replaced--w", {"cat", "/workspace/started"}) == "go\n";
      },
      absl::Minutes(2), absl::Milliseconds(300)))
      << Dump(Get(wf->name()));
  EXPECT_EQ(orchestrator_->Stop(SIGKILL), 128 + SIGKILL);
  delete orchestrator_;
  orchestrator_ = nullptr;
  DeleteVm("replaced--w");
  const std::map<std::string, std::string> someone = {{"owner", "someone"}};
  CreateVm("replaced--w", someone);
  StartOrchestrator();
  opb::Workflow done = WaitDone(wf->name(), absl::Minutes(1));
  ASSERT_EQ(done.state(), opb::Workflow::FAILED) << Dump(done);
  EXPECT_EQ(StepOf(done, "hold").error(), "vms/replaced--w is not this workflow's any more");
  ASSERT_TRUE(orchestrator_->WaitForLog("not retiring a vm that is not this workflow's"))
      << orchestrator_->Log();
  EXPECT_EQ(LabelsOf("replaced--w").value_or(std::map<std::string, std::string>{}), someone);
  DeleteVm("replaced--w");
}

TEST_F(OrchestratorTest, BadSpecsAreRefusedAndSubmitsAreIdempotent) {
  auto bad = Submit("agents: {w: {}}\nsteps:\n  - {id: a, agent: w, exec: x, needs: b}\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "test.yaml:3: steps[0].needs[0]: unknown step \"b\"");
  EXPECT_EQ(
      Submit("agents: {w: {}}\nsteps: [{id: a, agent: w, exec: x}]\n", "Bad_Id").status().code(),
      absl::StatusCode::kInvalidArgument);
  // "--" ends the workflow id in its VMs' ids.
  EXPECT_EQ(
      Submit("agents: {w: {}}\nsteps: [{id: a, agent: w, exec: x}]\n", "ci--x").status().code(),
      absl::StatusCode::kInvalidArgument);

  const std::string spec =
      "agents: {w: {memory_mib: 256}}\nsteps: [{id: a, agent: w, exec: 'echo once'}]\n";
  auto first = Submit(spec, "same-twice");
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = Submit(spec, "same-twice");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->name(), first->name());
  EXPECT_EQ(Submit(spec + "# changed\n", "same-twice").status().code(),
            absl::StatusCode::kAlreadyExists);
  opb::Workflow done = WaitDone(first->name());
  EXPECT_EQ(done.state(), opb::Workflow::SUCCEEDED) << Dump(done);
  EXPECT_EQ(StepOf(done, "a").attempts(), 1);

  opb::ListWorkflowsRequest list;
  list.set_filter("state=SUCCEEDED");
  opb::ListWorkflowsResponse resp;
  ASSERT_TRUE(CallStub(*stub_, &opb::OrchestratorService::Stub::ListWorkflows, list, &resp).ok());
  bool found = false;
  for (const auto& w : resp.workflows()) found = found || w.name() == "workflows/same-twice";
  EXPECT_TRUE(found);
  // Pages: one workflow each, newest first, the token leading to the next
  // (a second workflow of this test's own, whatever ran before it).
  auto newer = Submit(spec, "same-twice-2");
  ASSERT_TRUE(newer.ok()) << newer.status();
  EXPECT_EQ(WaitDone(newer->name()).state(), opb::Workflow::SUCCEEDED);
  opb::ListWorkflowsRequest page;
  page.set_page_size(1);
  opb::ListWorkflowsResponse page1, page2;
  ASSERT_TRUE(CallStub(*stub_, &opb::OrchestratorService::Stub::ListWorkflows, page, &page1).ok());
  ASSERT_EQ(page1.workflows_size(), 1);
  EXPECT_EQ(page1.workflows(0).name(), "workflows/same-twice-2") << "newest first";
  ASSERT_FALSE(page1.next_page_token().empty());
  page.set_page_token(page1.next_page_token());
  ASSERT_TRUE(CallStub(*stub_, &opb::OrchestratorService::Stub::ListWorkflows, page, &page2).ok());
  ASSERT_EQ(page2.workflows_size(), 1);
  EXPECT_NE(page2.workflows(0).name(), page1.workflows(0).name());
  EXPECT_LT(page2.workflows(0).create_time().seconds() * 1000000000LL +
                page2.workflows(0).create_time().nanos(),
            page1.workflows(0).create_time().seconds() * 1000000000LL +
                page1.workflows(0).create_time().nanos());
  page.set_page_token("not-a-token");
  EXPECT_EQ(CallStub(*stub_, &opb::OrchestratorService::Stub::ListWorkflows, page, &page2).code(),
            absl::StatusCode::kInvalidArgument);
  list.set_filter("state=BOGUS");
  EXPECT_EQ(CallStub(*stub_, &opb::OrchestratorService::Stub::ListWorkflows, list, &resp).code(),
            absl::StatusCode::kInvalidArgument);
  opb::GetStepOutputRequest out;
  out.set_workflow("workflows/same-twice");
  out.set_step("nope");
  opb::StepOutput o;
  EXPECT_EQ(CallStub(*stub_, &opb::OrchestratorService::Stub::GetStepOutput, out, &o).code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace clawos
