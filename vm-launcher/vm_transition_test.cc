#include "vm-launcher/vm_transition.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace clawos::launcher {
namespace {

using K = VmTransition::Kind;
const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

VmTransition Of(K k) {
  switch (k) {
    case K::kCreated:
      return VmTransition::Created(kNow);
    case K::kBoot:
      return VmTransition::Boot(kNow, 3);
    case K::kLaunched:
      return VmTransition::Launched(kNow, 42, 7, 9);
    case K::kReady:
      return VmTransition::Ready(kNow, "1.2");
    case K::kStop:
      return VmTransition::Stop(kNow);
    case K::kStopped:
      return VmTransition::Stopped(kNow);
    case K::kFail:
      return VmTransition::Fail(kNow, FailureKind::kVmmExited, "gone");
  }
  return VmTransition::Stop(kNow);
}

// A VM in `s` with every field a run sets filled in.
Vm InState(VmState s) {
  Vm vm;
  vm.spec.name = "a";
  vm.state = s;
  vm.pid = 1234;
  vm.pid_start_time = 99;
  vm.net_slot = 5;
  vm.failure = FailureKind::kBootTimeout;
  vm.reason = "old";
  vm.ready_time = kNow - absl::Hours(1);
  return vm;
}

TEST(VmTransitionTest, OnlyTheDrawnTransitionsAreLegal) {
  const std::map<K, std::set<VmState>> legal = {
      {K::kCreated, {VmState::kCreating}},
      {K::kBoot, {VmState::kStopped, VmState::kFailed}},
      {K::kLaunched, {VmState::kBooting}},
      {K::kReady, {VmState::kBooting}},
      {K::kStop, {VmState::kRunning}},
      {K::kStopped, {VmState::kStopping, VmState::kBooting}},
      {K::kFail,
       {VmState::kBooting, VmState::kRunning, VmState::kStopping, VmState::kStopped,
        VmState::kFailed}},
  };
  for (const auto& [kind, from] : legal) {
    for (VmState s : {VmState::kCreating, VmState::kBooting, VmState::kRunning, VmState::kStopping,
                      VmState::kStopped, VmState::kFailed}) {
      auto next = Apply(InState(s), Of(kind));
      EXPECT_EQ(next.ok(), from.count(s) == 1)
          << static_cast<int>(kind) << " from " << VmStateName(s) << ": " << next.status();
      if (!next.ok()) {
        EXPECT_EQ(next.status().code(), absl::StatusCode::kFailedPrecondition);
        EXPECT_NE(next.status().message().find(VmStateName(s)), std::string::npos);
      }
    }
  }
}

TEST(VmTransitionTest, BootClearsTheLastRunAndStopAndFailDetachTheVmm) {
  auto boot = Apply(InState(VmState::kFailed), VmTransition::Boot(kNow, 2));
  ASSERT_TRUE(boot.ok());
  EXPECT_EQ(boot->state, VmState::kBooting);
  EXPECT_EQ(boot->failure, FailureKind::kNone);
  EXPECT_EQ(boot->reason, "");
  EXPECT_EQ(boot->pid, 0);
  EXPECT_EQ(boot->pid_start_time, 0u);
  EXPECT_EQ(boot->net_slot, 2);
  EXPECT_EQ(boot->start_time, kNow);
  EXPECT_EQ(boot->ready_time, absl::InfinitePast());

  auto launched = Apply(*boot, VmTransition::Launched(kNow, 77, 8, 11));
  ASSERT_TRUE(launched.ok());
  EXPECT_EQ(launched->state, VmState::kBooting);
  EXPECT_EQ(launched->pid, 77);
  EXPECT_EQ(launched->cgroup_id, 11u);
  auto ready = Apply(*launched, VmTransition::Ready(kNow + absl::Seconds(2), "9.9"));
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->state, VmState::kRunning);
  EXPECT_EQ(ready->ready_time, kNow + absl::Seconds(2));
  EXPECT_EQ(ready->agent_version, "9.9");

  for (const VmTransition& end :
       {VmTransition::Stopped(kNow + absl::Minutes(1)),
        VmTransition::Fail(kNow + absl::Minutes(1), FailureKind::kAgentUnresponsive, "x")}) {
    Vm from = end.kind == K::kStopped ? Apply(*ready, VmTransition::Stop(kNow)).value() : *ready;
    auto done = Apply(from, end);
    ASSERT_TRUE(done.ok()) << done.status();
    EXPECT_EQ(done->pid, 0);
    EXPECT_EQ(done->pid_start_time, 0u);
    EXPECT_EQ(done->net_slot, -1);
    EXPECT_EQ(done->stop_time, kNow + absl::Minutes(1));
    EXPECT_EQ(done->agent_version, "9.9") << "kept: the last run's";
  }
}

TEST(VmTransitionTest, AFailureReasonIsSafeBoundedText) {
  std::string guest = "console: \xff\xfe bad\x1b[31m" + std::string(5000, 'x');
  auto failed =
      Apply(InState(VmState::kRunning), VmTransition::Fail(kNow, FailureKind::kVmmExited, guest));
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->failure, FailureKind::kVmmExited);
  EXPECT_LE(failed->reason.size(), 2048u);
  EXPECT_NE(failed->reason.find("\xef\xbf\xbd\xef\xbf\xbd bad"), std::string::npos);
  EXPECT_EQ(failed->reason.find('\x1b'), std::string::npos);
}

}  // namespace
}  // namespace clawos::launcher
