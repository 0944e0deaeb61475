// The launcher's core with a fake VMM and a fake host (vmm.h, host_setup.h):
// the sequencing of a start and its rollback, a stop during a boot, health
// misses, a VMM that dies, and reconciliation after a restart, in
// milliseconds. The guest agent is a FakeGuest speaking real frames on a
// real unix socket; images are real signed image directories; the store is
// a real SQLite file. launcher_core_test does the same against real QEMU.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/files.h"
#include "common/testing/eventually.h"
#include "common/testing/temp_dir.h"
#include "image/signing.h"
#include "image/testing/fake_image.h"
#include "vm-launcher/launcher.h"
#include "vm-launcher/testing/fake_guest.h"

namespace clawos::launcher {
namespace {

using clawos::testing::Eventually;
using clawos::testing::FakeGuest;

// A VMM process as the fake host holds it: it outlives a launcher (as a real
// VMM outlives a launcher killed with -9) and runs until stopped or killed,
// or until its guest is asked to shut down.
struct FakeProcess {
  pid_t pid = 0;
  uint64_t start_time = 0;
  std::string run_dir;
  std::unique_ptr<FakeGuest> guest;
  std::atomic<bool> dead{false};
  bool running() const { return !dead && !guest->shutdown_asked(); }
};

// The fake host: what was done, in order; the step to fail; the processes.
struct FakeWorld {
  std::mutex mu;
  std::vector<std::string> calls;
  std::string fail_step;  // "cgroup", "nic", "files", "launch" or "exits" (the VMM dies booting)
  bool guest_hello = true;
  uint32_t files_uid = 0, nic_owner = 0;  // what the last start asked for
  std::map<pid_t, std::shared_ptr<FakeProcess>> procs;
  pid_t next_pid = 4'000'000;

  void Call(const std::string& c) {
    std::lock_guard lock(mu);
    calls.push_back(c);
  }
  std::string Calls() {
    std::lock_guard lock(mu);
    return absl::StrJoin(calls, ",");
  }
  void ClearCalls() {
    std::lock_guard lock(mu);
    calls.clear();
  }
  std::shared_ptr<FakeProcess> Process(pid_t pid) {
    std::lock_guard lock(mu);
    auto it = procs.find(pid);
    return it == procs.end() ? nullptr : it->second;
  }
  int Running() {
    std::lock_guard lock(mu);
    int n = 0;
    for (auto& [pid, p] : procs) n += p->running();
    return n;
  }
};

class FakeVmm : public Vmm {
 public:
  FakeVmm(std::shared_ptr<FakeWorld> w, std::shared_ptr<FakeProcess> p)
      : world_(std::move(w)), p_(std::move(p)) {}
  pid_t pid() const override { return p_->pid; }
  uint64_t start_time() const override { return p_->start_time; }
  bool Running() override { return p_->running(); }
  absl::Status Stop(absl::Duration) override {
    world_->Call(absl::StrCat("stop ", p_->pid));
    p_->dead = true;
    return absl::OkStatus();
  }
  absl::Status Kill() override {
    world_->Call(absl::StrCat("kill ", p_->pid));
    p_->dead = true;
    return absl::OkStatus();
  }
  std::string AgentSocket() const override { return p_->run_dir + "/agent.sock"; }
  std::string ConsoleLog() const override { return p_->run_dir + "/console.log"; }
  std::string ExitMessage() const override { return "fake VMM: gone"; }
  absl::Status SaveState(int) override { return absl::UnimplementedError("fake VMM"); }

 private:
  std::shared_ptr<FakeWorld> world_;
  std::shared_ptr<FakeProcess> p_;
};

class FakeBackend : public VmmBackend {
 public:
  explicit FakeBackend(std::shared_ptr<FakeWorld> w) : w_(std::move(w)) {}
  std::string Identity() const override { return ""; }  // no templates
  absl::StatusOr<std::unique_ptr<Vmm>> Launch(const VmmRequest& r) override {
    w_->Call("launch " + r.vm);
    if (w_->fail_step == "launch") return absl::UnavailableError("fake: the VMM would not start");
    auto p = std::make_shared<FakeProcess>();
    p->run_dir = r.run_dir;
    ::unlink((r.run_dir + "/agent.sock").c_str());
    p->guest = std::make_unique<FakeGuest>(r.run_dir + "/agent.sock");
    p->guest->say_hello = w_->guest_hello && w_->fail_step != "exits";
    p->dead = w_->fail_step == "exits";
    std::lock_guard lock(w_->mu);
    p->pid = ++w_->next_pid;
    p->start_time = static_cast<uint64_t>(p->pid) * 7;
    w_->procs[p->pid] = p;
    return std::unique_ptr<Vmm>(new FakeVmm(w_, p));
  }
  absl::StatusOr<std::unique_ptr<Vmm>> Adopt(pid_t pid, uint64_t start_time, const std::string&,
                                             const std::string&) override {
    auto p = w_->Process(pid);
    if (!p || p->start_time != start_time || !p->running()) {
      return absl::NotFoundError(absl::StrCat("fake VMM ", pid, " is gone"));
    }
    return std::unique_ptr<Vmm>(new FakeVmm(w_, p));
  }

 private:
  std::shared_ptr<FakeWorld> w_;
};

class FakeHost : public HostSetup {
 public:
  explicit FakeHost(std::shared_ptr<FakeWorld> w) : w_(std::move(w)) {}
  absl::StatusOr<HostCgroup> CreateCgroup(const Vm& vm) override {
    w_->Call("cgroup " + vm.spec.name);
    if (w_->fail_step == "cgroup") return absl::PermissionDeniedError("fake: no cgroup");
    return HostCgroup{"/fake/" + vm.spec.name, 42, {}};
  }
  void DestroyCgroup(const std::string& vm) override { w_->Call("-cgroup " + vm); }
  absl::StatusOr<HostNic> AttachNic(int slot, uint32_t owner) override {
    w_->Call(absl::StrCat("nic ", slot));
    w_->nic_owner = owner;
    if (w_->fail_step == "nic") return absl::UnavailableError("fake: no tap");
    return HostNic{"clawtap0", "52:54:00:00:00:01", "", "clawos.ip=10.88.0.10"};
  }
  void DetachNic(int slot) override { w_->Call(absl::StrCat("-nic ", slot)); }
  absl::Status PrepareFiles(const VmmRequest& r) override {
    w_->Call("files " + r.vm);
    w_->files_uid = r.jail_uid;
    if (w_->fail_step == "files") return absl::FailedPreconditionError("fake: not readable");
    return MakeDirs(r.run_dir, 0700);
  }
  void ReleaseFiles(const std::string& vm_dir, const std::string&) override {
    w_->Call("-files " + vm_dir.substr(vm_dir.rfind('/') + 1));
  }
  void RemoveOrphans(const std::set<std::string>& vms, const std::set<int>&) override {
    w_->Call(absl::StrCat("orphans but ", absl::StrJoin(vms, "+")));
  }
  bool has_bridge() const override { return true; }
  std::string CgroupPath(const std::string& vm) const override { return "/fake/" + vm; }
  std::optional<VmNic> Nic(int slot) const override { return VmNic{slot, "clawtap0", "", ""}; }

 private:
  std::shared_ptr<FakeWorld> w_;
};

class LauncherFakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string img = dir_.Sub("img");
    ASSERT_EQ(::mkdir(img.c_str(), 0755), 0);
    image::testing::MakeFakeImage(img);
    pub_ = image::GenerateSigningKey(dir_.Sub("keys")).value();
    auto key = image::LoadSigningKey(dir_.Sub("keys") + "/signing.key");
    ASSERT_TRUE(key.ok()) << key.status();
    ASSERT_TRUE(image::SignImage(img, *key).ok());
    Open();
    ASSERT_TRUE(launcher_->ImportImage("agent", img).ok());
  }
  void TearDown() override { launcher_.reset(); }

  void Open(bool jail = true) {
    launcher_.reset();
    LauncherConfig c;
    c.jail = jail;
    c.state_dir = dir_.Sub("state");
    c.signing_pubkey = pub_;
    c.housekeeping = false;  // the tests call Housekeep with the clock moved
    c.health_interval = absl::Seconds(10);
    c.ready_timeout = absl::Seconds(20);
    c.min_available_mib = 0;
    auto l = Launcher::Open(c, clock_, std::make_unique<FakeBackend>(world_),
                            std::make_unique<FakeHost>(world_));
    ASSERT_TRUE(l.ok()) << l.status();
    launcher_ = std::move(*l);
  }
  Vm Create(const std::string& name, bool bridge = false) {
    VmSpec s;
    s.name = name;
    s.image = "agent";
    s.runtime_disk_mib = 16;
    s.workspace_disk_mib = 16;
    if (bridge) s.network = "bridge";
    auto vm = launcher_->CreateVm(s);
    EXPECT_TRUE(vm.ok()) << vm.status();
    return vm.value_or(Vm{});
  }
  VmState State(const std::string& name) { return launcher_->GetVm(name).value_or(Vm{}).state; }

  clawos::testing::TempDir dir_;
  crypto::Ed25519PublicKey pub_{};
  ManualClock clock_;
  std::shared_ptr<FakeWorld> world_ = std::make_shared<FakeWorld>();
  std::unique_ptr<Launcher> launcher_;
};

TEST_F(LauncherFakeTest, AStartDoesTheHostStepsInOrderAndAStopUndoesThem) {
  Create("a", /*bridge=*/true);
  world_->ClearCalls();
  absl::Time t0 = absl::Now();
  auto vm = launcher_->StartVm("a");
  ASSERT_TRUE(vm.ok()) << vm.status();
  EXPECT_EQ(vm->state, VmState::kRunning);
  EXPECT_EQ(vm->cgroup_id, 42u);
  EXPECT_NE(vm->jail_uid, 0u) << "a jailed VM has its own uid";
  EXPECT_EQ(world_->Calls(), "cgroup a,nic 0,files a,launch a");
  world_->ClearCalls();
  auto stopped = launcher_->StopVm("a", absl::Seconds(1));
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(stopped->state, VmState::kStopped);
  EXPECT_TRUE(Eventually([&] { return world_->Process(vm->pid)->guest->shutdown_asked(); }))
      << "the guest is asked first";
  EXPECT_EQ(world_->Calls(), absl::StrCat("stop ", vm->pid, ",-nic 0,-cgroup a,-files a"));
  EXPECT_EQ(launcher_->GetVm("a")->net_slot, -1) << "the address is given back";
  EXPECT_LT(absl::Now() - t0, absl::Seconds(2));
}

// Each step that fails: the steps done before it undone, newest first; the
// VM FAILED with the step's own words; no VMM left running.
struct RollbackCase {
  std::string step;
  std::string undone;  // the calls after the failing one
  FailureKind kind;
  std::string says;
};
void PrintTo(const RollbackCase& c, std::ostream* os) { *os << "failing step " << c.step; }

class LauncherRollbackTest : public LauncherFakeTest,
                             public ::testing::WithParamInterface<RollbackCase> {};

TEST_P(LauncherRollbackTest, AFailedStepUndoesTheStepsDoneNewestFirst) {
  const RollbackCase& c = GetParam();
  Create("r", /*bridge=*/true);
  world_->ClearCalls();
  world_->fail_step = c.step;
  if (c.step == "agent") world_->guest_hello = false;
  absl::Time t0 = absl::Now();
  auto vm = c.step == "agent"
                ? launcher_->StartVm("r", {absl::Now() + absl::Milliseconds(300), nullptr})
                : launcher_->StartVm("r");
  ASSERT_FALSE(vm.ok());
  EXPECT_TRUE(absl::StrContains(vm.status().message(), c.says)) << vm.status();
  std::string calls = world_->Calls();
  EXPECT_TRUE(absl::EndsWith(calls, c.undone)) << calls;
  Vm now = launcher_->GetVm("r").value();
  if (c.step == "agent") {  // the caller's deadline passed: not broken, just not started
    EXPECT_EQ(vm.status().code(), absl::StatusCode::kDeadlineExceeded);
    EXPECT_EQ(now.state, VmState::kStopped);
    EXPECT_EQ(now.failure, c.kind);
    EXPECT_TRUE(absl::StrContains(now.reason, "the caller's deadline passed")) << now.reason;
  } else {
    EXPECT_EQ(now.state, VmState::kFailed);
    EXPECT_EQ(now.failure, c.kind);
    EXPECT_TRUE(absl::StrContains(now.reason, c.says)) << now.reason;
  }
  EXPECT_EQ(now.pid, 0);
  EXPECT_EQ(now.net_slot, -1);
  EXPECT_EQ(world_->Running(), 0);
  EXPECT_LT(absl::Now() - t0, absl::Seconds(2));
  // Nothing stuck: the next start (nothing failing) runs.
  world_->fail_step.clear();
  world_->guest_hello = true;
  auto again = launcher_->StartVm("r");
  EXPECT_TRUE(again.ok()) << again.status();
}

INSTANTIATE_TEST_SUITE_P(
    EveryStep, LauncherRollbackTest,
    ::testing::Values(RollbackCase{"cgroup", "cgroup r,-cgroup r", FailureKind::kHostSetup,
                                   "no cgroup"},
                      RollbackCase{"nic", "nic 0,-cgroup r", FailureKind::kHostSetup, "no tap"},
                      RollbackCase{"files", "files r,-files r,-nic 0,-cgroup r",
                                   FailureKind::kHostSetup, "not readable"},
                      RollbackCase{"launch", "launch r,-files r,-nic 0,-cgroup r",
                                   FailureKind::kVmmExited, "would not start"},
                      RollbackCase{"exits", "launch r,stop 4000001,-files r,-nic 0,-cgroup r",
                                   FailureKind::kVmmExited, "fake VMM: gone"},
                      RollbackCase{"agent", "launch r,stop 4000001,-files r,-nic 0,-cgroup r",
                                   FailureKind::kNone, "abandoned"}),
    [](const auto& info) { return info.param.step; });

TEST_F(LauncherFakeTest, WithTheJailOffAVmMadeJailedStartsAsRootAndKeepsItsUid) {
  Vm made = Create("j", /*bridge=*/true);
  ASSERT_NE(made.jail_uid, 0u);
  Open(/*jail=*/false);
  auto vm = launcher_->StartVm("j");
  ASSERT_TRUE(vm.ok()) << vm.status();
  EXPECT_EQ(world_->files_uid, 0u) << "nothing is handed to the uid of an unjailed VMM";
  EXPECT_EQ(world_->nic_owner, 0u);
  EXPECT_EQ(vm->jail_uid, made.jail_uid) << "kept for when the jail is on again";
  ASSERT_TRUE(launcher_->StopVm("j").ok());
  Open(/*jail=*/true);
  ASSERT_TRUE(launcher_->StartVm("j").ok());
  EXPECT_EQ(world_->files_uid, made.jail_uid);
  EXPECT_EQ(world_->nic_owner, made.jail_uid);
}

TEST_F(LauncherFakeTest, AStopDuringTheBootAbortsTheStart) {
  Create("b");
  world_->guest_hello = false;  // the guest never finishes booting
  absl::StatusOr<Vm> started;
  std::thread start([&] { started = launcher_->StartVm("b"); });
  EXPECT_TRUE(Eventually([&] { return world_->Running() == 1; }));  // (no ASSERT: join below)
  EXPECT_EQ(State("b"), VmState::kBooting);
  absl::Time t0 = absl::Now();
  auto stopped = launcher_->StopVm("b");
  start.join();
  EXPECT_LT(absl::Now() - t0, absl::Seconds(2)) << "the start noticed the stop at once";
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(stopped->state, VmState::kStopped);
  EXPECT_EQ(started.status().code(), absl::StatusCode::kAborted) << started.status();
  EXPECT_TRUE(absl::StrContains(stopped->reason, "aborted by a stop")) << stopped->reason;
  EXPECT_EQ(world_->Running(), 0);
  EXPECT_TRUE(absl::EndsWith(world_->Calls(), "-files b,-cgroup b")) << world_->Calls();
}

TEST_F(LauncherFakeTest, ThreeMissedPingsFailTheVmAndOneAnsweredPingResetsTheCount) {
  Create("h");
  auto vm = launcher_->StartVm("h");
  ASSERT_TRUE(vm.ok()) << vm.status();
  FakeGuest& guest = *world_->Process(vm->pid)->guest;
  // Each round: the ping goes out, then a round later it is answered or missed.
  auto round = [&] {
    clock_.Advance(absl::Seconds(10));
    launcher_->Housekeep();
  };
  auto pings = [&] {
    int n = 0;
    // Nonce 0 is the nudge every connection starts with (agent.proto, "Templates").
    for (const auto& f : guest.Received()) n += f.has_ping() && f.ping().nonce() != 0;
    return n;
  };
  guest.answer_pings = false;
  round();  // ping 1 out
  ASSERT_TRUE(Eventually([&] { return pings() == 1; }));
  round();  // missed (1)
  round();  // ping 2 out
  round();  // missed (2)
  EXPECT_EQ(State("h"), VmState::kRunning) << "two misses are not three";
  guest.answer_pings = true;
  round();  // ping 3 out, answered
  ASSERT_TRUE(Eventually([&] { return pings() == 3; }));
  absl::SleepFor(absl::Milliseconds(50));  // the pong on its way
  round();                                 // answered: the count starts again
  guest.answer_pings = false;
  for (int i = 0; i < 5; ++i) round();  // out, missed, out, missed, out
  EXPECT_EQ(State("h"), VmState::kRunning) << "the answered ping reset the count";
  round();  // the third miss in a row
  Vm now = launcher_->GetVm("h").value();
  EXPECT_EQ(now.state, VmState::kFailed);
  EXPECT_EQ(now.failure, FailureKind::kAgentUnresponsive);
  EXPECT_EQ(world_->Running(), 0) << "the VMM is stopped";
}

TEST_F(LauncherFakeTest, AVmmThatDiesUnaskedFailsTheVmAndIsCleanedUp) {
  Create("d");
  auto vm = launcher_->StartVm("d");
  ASSERT_TRUE(vm.ok()) << vm.status();
  world_->ClearCalls();
  world_->Process(vm->pid)->dead = true;
  launcher_->Housekeep();
  Vm now = launcher_->GetVm("d").value();
  EXPECT_EQ(now.state, VmState::kFailed);
  EXPECT_EQ(now.failure, FailureKind::kVmmExited);
  EXPECT_TRUE(absl::StrContains(now.reason, "without a stop being asked for")) << now.reason;
  EXPECT_EQ(world_->Calls(), "-cgroup d,-files d");
}

TEST_F(LauncherFakeTest, ARestartAdoptsRunningVmmsAndEndsTheRest) {
  Create("alive");
  Create("died");
  Create("booting");
  auto alive = launcher_->StartVm("alive");
  auto died = launcher_->StartVm("died");
  ASSERT_TRUE(alive.ok() && died.ok());
  // The launcher goes; its VMMs stay (as after kill -9), and one dies meanwhile.
  launcher_.reset();
  world_->Process(died->pid)->dead = true;
  // A VM caught mid-boot: its record as the crash left it, its VMM running.
  FakeBackend backend(world_);
  VmmRequest r;
  r.vm = "booting";
  r.run_dir = dir_.Sub("booting-run");
  ASSERT_TRUE(MakeDirs(r.run_dir, 0700).ok());
  auto booting_vmm = backend.Launch(r);
  ASSERT_TRUE(booting_vmm.ok());
  const pid_t booting_pid = (*booting_vmm)->pid();
  {
    auto store = VmStore::Open(dir_.Sub("state") + "/launcher.db", clock_);
    ASSERT_TRUE(store.ok()) << store.status();
    Vm v = (*store)->Get("booting").value();
    v.state = VmState::kBooting;
    v.pid = booting_pid;
    v.pid_start_time = (*booting_vmm)->start_time();
    ASSERT_TRUE((*store)->Update(v).ok());
  }
  world_->ClearCalls();
  Open();
  EXPECT_EQ(State("alive"), VmState::kRunning);
  EXPECT_EQ(world_->Process(alive->pid)->guest->connections(), 2) << "the agent reconnected";
  auto agent = launcher_->Agent("alive");
  ASSERT_TRUE(agent.ok()) << agent.status();
  EXPECT_TRUE((*agent)->Ping(absl::Seconds(5)).ok());
  Vm d = launcher_->GetVm("died").value();
  EXPECT_EQ(d.state, VmState::kFailed);
  EXPECT_TRUE(absl::StrContains(d.reason, "exited while the launcher was down")) << d.reason;
  Vm b = launcher_->GetVm("booting").value();
  EXPECT_EQ(b.state, VmState::kFailed);
  EXPECT_TRUE(absl::StrContains(b.reason, "BOOTING")) << b.reason;
  EXPECT_FALSE(world_->Process(booting_pid)->running()) << "a VMM caught mid-boot is killed";
  std::string calls = world_->Calls();
  EXPECT_TRUE(absl::StrContains(
      calls, absl::StrCat("kill ", booting_pid, ",-cgroup booting,-files booting")))
      << calls;
  EXPECT_TRUE(absl::StrContains(calls, "-cgroup died,-files died")) << calls;
  EXPECT_TRUE(absl::EndsWith(calls, "orphans but alive")) << calls;
}

}  // namespace
}  // namespace clawos::launcher
