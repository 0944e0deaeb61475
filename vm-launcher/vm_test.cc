#include "vm-launcher/vm.h"

#include <gtest/gtest.h>

#include "common/testing/temp_dir.h"
#include "vm-launcher/vm_store.h"

namespace clawos::launcher {
namespace {

VmSpec Spec(const std::string& name) {
  VmSpec s;
  s.name = name;
  s.image = "agent";
  return s;
}

TEST(VmSpecTest, Names) {
  for (const std::string& good :
       {std::string("a"), std::string("agent-1"), std::string("0x"), std::string(63, 'a')}) {
    EXPECT_TRUE(ValidateVmName(good).ok()) << good;
  }
  for (const std::string& bad :
       {std::string(""), std::string("-a"), std::string("Agent"), std::string("a_b"),
        std::string("a.b"), std::string("a/b"), std::string(64, 'a')}) {
    auto s = ValidateVmName(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(VmSpecTest, Bounds) {
  VmLimits l;
  EXPECT_TRUE(ValidateVmSpec(Spec("a"), l).ok());
  VmSpec s = Spec("a");
  s.memory_mib = 0;
  EXPECT_NE(ValidateVmSpec(s, l).message().find("memory must be"), std::string::npos);
  s = Spec("a");
  s.vcpus = 99;
  EXPECT_FALSE(ValidateVmSpec(s, l).ok());
  s = Spec("a");
  s.image = "";
  EXPECT_FALSE(ValidateVmSpec(s, l).ok());
  s = Spec("a");
  s.network = "host";
  EXPECT_FALSE(ValidateVmSpec(s, l).ok());
  s = Spec("a");
  s.workspace_disk_mib = 1;
  EXPECT_FALSE(ValidateVmSpec(s, l).ok());
}

TEST(VmStateTest, OperationsByState) {
  Vm vm;
  vm.spec = Spec("a");
  vm.state = VmState::kStopped;
  EXPECT_TRUE(CheckAllowed(vm, VmOp::kStart).ok());
  EXPECT_TRUE(CheckAllowed(vm, VmOp::kDelete).ok());
  auto exec = CheckAllowed(vm, VmOp::kExec);
  EXPECT_EQ(exec.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(exec.message().find("it is STOPPED"), std::string::npos) << exec;
  vm.state = VmState::kRunning;
  EXPECT_TRUE(CheckAllowed(vm, VmOp::kExec).ok());
  EXPECT_TRUE(CheckAllowed(vm, VmOp::kStop).ok());
  EXPECT_FALSE(CheckAllowed(vm, VmOp::kStart).ok());
  EXPECT_NE(CheckAllowed(vm, VmOp::kDelete).message().find("stop it first"), std::string::npos);
  vm.state = VmState::kCreating;  // its disks are being made, outside the launcher's lock
  EXPECT_NE(CheckAllowed(vm, VmOp::kStart).message().find("it is CREATING"), std::string::npos);
  EXPECT_FALSE(CheckAllowed(vm, VmOp::kDelete).ok());
}

TEST(VmStoreTest, PersistsAcrossReopen) {
  clawos::testing::TempDir dir;
  ManualClock clock;
  {
    auto store = VmStore::Open(dir.Sub("launcher.db"), clock).value();
    Vm vm;
    vm.spec = Spec("one");
    vm.spec.memory_mib = 512;
    ASSERT_TRUE(store->Insert(vm).ok());
    EXPECT_EQ(store->Insert(vm).code(), absl::StatusCode::kAlreadyExists);
    vm.state = VmState::kRunning;
    vm.pid = 1234;
    vm.pid_start_time = 99;
    vm.cgroup_id = 777;
    ASSERT_TRUE(store->Update(vm).ok());
    Vm two;
    two.spec = Spec("two");
    ASSERT_TRUE(store->Insert(two).ok());
  }
  auto store = VmStore::Open(dir.Sub("launcher.db"), clock).value();
  auto one = store->Get("one");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->state, VmState::kRunning);
  EXPECT_EQ(one->spec.memory_mib, 512);
  EXPECT_EQ(one->pid, 1234);
  EXPECT_EQ(one->pid_start_time, 99u);
  EXPECT_EQ(one->cgroup_id, 777u);
  EXPECT_EQ(store->List().size(), 2u);
  ASSERT_TRUE(store->Delete("two").ok());
  EXPECT_EQ(store->Get("two").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->Delete("two").code(), absl::StatusCode::kNotFound);
  Vm ghost;
  ghost.spec = Spec("ghost");
  EXPECT_EQ(store->Update(ghost).code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace clawos::launcher
