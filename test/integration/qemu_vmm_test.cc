// The launcher's VMM process layer against real QEMU boots of the built image:
// per-VM ext4 disks, QEMU inside the VM's cgroup, the agent's handshake,
// orderly stop, and failures that leave the guest console to read.
#include "vm-launcher/qemu_vmm.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/files.h"
#include "common/testing/eventually.h"
#include "common/testing/temp_dir.h"
#include "common/testing/test_image.h"
#include "vm-launcher/agent_client.h"
#include "vm-launcher/cgroup.h"
#include "vm-launcher/disk.h"
#include "vm-launcher/guest_config.h"

namespace clawos::launcher {
namespace {

class QemuVmmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* img = std::getenv("CLAWOS_TEST_IMAGE");
    if (!img || !PathExists(std::string(img) + "/manifest.json")) {
      GTEST_SKIP() << "SKIPPED: no built guest image (CLAWOS_TEST_IMAGE; ctest builds it)";
    }
    if (geteuid() != 0) GTEST_SKIP() << "SKIPPED: needs root for the VM's cgroup";
    image_ = img;
    auto m = image::ReadManifest(image_);
    ASSERT_TRUE(m.ok()) << m.status();
    manifest_ = *m;
    auto layout = DetectCgroupLayout();
    ASSERT_TRUE(layout.ok()) << layout.status();
    layout_ = *layout;
    name_ = absl::StrCat("vmm-test-", getpid());
    auto cg = VmCgroup::Create("/sys/fs/cgroup", layout_, "clawos-vmm-test", name_,
                               {512 << 20, 100000, 100000, 512});
    ASSERT_TRUE(cg.ok()) << cg.status();
    cgroup_ = std::make_unique<VmCgroup>(*cg);
  }
  void TearDown() override {
    if (cgroup_) {
      auto destroyed = cgroup_->Destroy();
      EXPECT_TRUE(destroyed.ok()) << destroyed;
      testing::RemoveCgroupParent("clawos-vmm-test");
    }
  }
  QemuConfig Config(bool disks) {
    GuestPaths p{image_, dir_.path(), "", ""};
    if (disks) {
      p.runtime_disk = dir_.Sub("runtime.img");
      p.workspace_disk = dir_.Sub("workspace.img");
      EXPECT_TRUE(CreateExt4Disk(p.runtime_disk, 64).ok());
      EXPECT_TRUE(CreateExt4Disk(p.workspace_disk, 64).ok());
    }
    return GuestQemuConfig(manifest_, p, 1, 256, "tcg");
  }

  clawos::testing::TempDir dir_;
  std::string image_, name_;
  image::Manifest manifest_;
  CgroupLayout layout_ = CgroupLayout::kUnified;
  std::unique_ptr<VmCgroup> cgroup_;
};

TEST_F(QemuVmmTest, BootsInItsCgroupReportsReadyAndStopsInOrder) {
  auto vmm = QemuVmm::Launch(Config(true), cgroup_->ProcsFiles(), dir_.Sub("qemu.log"));
  ASSERT_TRUE(vmm.ok()) << vmm.status();
  EXPECT_EQ(cgroup_->Processes(), std::vector<pid_t>{(*vmm)->pid()});
  QemuVmm& p = **vmm;
  auto agent = AgentClient::Connect(p.config().agent_socket, {}, absl::Now() + absl::Seconds(90),
                                    [&p] { return p.Running(); });
  ASSERT_TRUE(agent.ok()) << agent.status() << "\n" << p.ConsoleTail();
  EXPECT_FALSE((*agent)->hello().kernel_release().empty());
  EXPECT_TRUE(IsSameProcess((*vmm)->pid(), (*vmm)->start_time()));
  EXPECT_FALSE(IsSameProcess((*vmm)->pid(), (*vmm)->start_time() + 1)) << "pid alone is not enough";
  ASSERT_TRUE((*agent)->Shutdown(absl::Seconds(5)).ok());
  ASSERT_TRUE((*vmm)->Stop(absl::Seconds(30)).ok());
  EXPECT_NE(p.ConsoleTail().find("shutting down on request"), std::string::npos)
      << "an orderly power-off, not a kill\n"
      << p.ConsoleTail();
  EXPECT_FALSE((*vmm)->Running());
  // The kernel unlinks a reaped task from its cgroup a moment after wait()
  // returns (seen on 6.18): allow that moment, not a process left behind.
  std::vector<pid_t> left;
  EXPECT_TRUE(testing::Eventually([&] { return (left = cgroup_->Processes()).empty(); }))
      << "left in the cgroup: " << absl::StrJoin(left, " ") << " (QEMU was " << p.pid() << ")";
}

TEST_F(QemuVmmTest, FailedBootIsReportedWithTheConsole) {
  QemuConfig c = Config(false);
  c.cmdline += " clawos.root_hash=" + std::string(64, 'b');
  auto vmm = QemuVmm::Launch(c, cgroup_->ProcsFiles(), dir_.Sub("qemu.log"));
  ASSERT_TRUE(vmm.ok()) << vmm.status();
  QemuVmm& p = **vmm;
  auto agent = AgentClient::Connect(p.config().agent_socket, {}, absl::Now() + absl::Seconds(90),
                                    [&p] { return p.Running(); });
  ASSERT_FALSE(agent.ok());
  EXPECT_EQ(agent.status().code(), absl::StatusCode::kFailedPrecondition) << agent.status();
  EXPECT_NE(p.ConsoleTail().find("FATAL: cannot mount the verified root"), std::string::npos)
      << p.ConsoleTail();
  // The launcher's rollback: stop whatever is left; TearDown removes the cgroup.
  EXPECT_TRUE((*vmm)->Stop(absl::Seconds(5)).ok());
  EXPECT_FALSE((*vmm)->Running());
}

TEST_F(QemuVmmTest, KilledVmmIsNoLongerTheSameProcess) {
  auto vmm = QemuVmm::Launch(Config(false), cgroup_->ProcsFiles(), dir_.Sub("qemu.log"));
  ASSERT_TRUE(vmm.ok()) << vmm.status();
  pid_t pid = (*vmm)->pid();
  uint64_t start = (*vmm)->start_time();
  ASSERT_TRUE(IsSameProcess(pid, start));
  ::kill(pid, SIGKILL);
  EXPECT_TRUE(testing::Eventually([&] { return !(*vmm)->Running(); }));
  EXPECT_FALSE(IsSameProcess(pid, start));
  EXPECT_EQ(QemuVmm::Adopt(pid, start, Config(false), dir_.Sub("qemu.log")).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(DiskTest, CreatesSparseExt4AndRefusesToOverwrite) {
  clawos::testing::TempDir dir;
  std::string p = dir.Sub("ws.img");
  ASSERT_TRUE(CreateExt4Disk(p, 64).ok());
  struct stat st {};
  ASSERT_EQ(stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 64 << 20);
  EXPECT_LT(st.st_blocks * 512, 16 << 20) << "sparse";
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(CreateExt4Disk(p, 64).code(), absl::StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace clawos::launcher
