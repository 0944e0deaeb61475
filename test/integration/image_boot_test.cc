// Real boots of the built guest image under QEMU microvm: the verified root
// comes up and the agent reports ready; a flipped byte in a file the guest
// reads is an I/O error inside the guest (dm-verity enforces); a wrong root
// hash stops the boot with a clear message and a power-off.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "common/files.h"
#include "common/process.h"
#include "common/testing/temp_dir.h"
#include "test/integration/qemu_guest.h"

namespace clawos::testing {
namespace {

std::string ImageDir() {
  const char* d = std::getenv("CLAWOS_TEST_IMAGE");
  return d ? d : "";
}

class ImageBootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (ImageDir().empty() || !PathExists(ImageDir() + "/manifest.json")) {
      GTEST_SKIP() << "SKIPPED: no built guest image (CLAWOS_TEST_IMAGE; ctest builds it)";
    }
    if (!PathExists("/usr/bin/qemu-system-x86_64"))
      GTEST_SKIP() << "SKIPPED: qemu-system-x86 not installed";
  }
  std::unique_ptr<QemuGuest> Boot(GuestOptions o) {
    o.image_dir = ImageDir();
    o.work_dir = dir_.path();
    auto g = QemuGuest::Start(o);
    EXPECT_TRUE(g.ok()) << g.status();
    return g.ok() ? std::move(*g) : nullptr;
  }
  TempDir dir_;
};

TEST_F(ImageBootTest, VerifiedRootBootsAndAgentAnswers) {
  auto g = Boot({});
  ASSERT_TRUE(g);
  auto agent = g->ConnectAgent(absl::Seconds(60));
  ASSERT_TRUE(agent.ok()) << agent.status() << "\nconsole:\n" << g->Console();
  EXPECT_EQ((*agent)->hello().protocol_version(), 1u);
  EXPECT_FALSE((*agent)->hello().agent_version().empty());
  auto release = g->Exec(**agent, {"cat", "/etc/clawos/release"});
  ASSERT_TRUE(release.ok()) << release.status();
  EXPECT_EQ(release->rfind("clawos-image name=clawos-agent", 0), 0u) << *release;
  auto mounts = g->Exec(**agent, {"cat", "/proc/mounts"});
  ASSERT_TRUE(mounts.ok()) << mounts.status();
  EXPECT_NE(mounts->find(" /var tmpfs "), std::string::npos) << "no runtime disk: /var is a tmpfs\n"
                                                             << *mounts;
  EXPECT_EQ(mounts->find(" /workspace "), std::string::npos)
      << "no workspace disk: nothing on /workspace\n"
      << *mounts;
  auto pong = (*agent)->Ping(absl::Seconds(10));
  ASSERT_TRUE(pong.ok()) << pong.status();
  EXPECT_GT(pong->memory_available_bytes(), 0u);
  auto qmp = g->Qmp();
  ASSERT_TRUE(qmp.ok()) << qmp.status();
  EXPECT_EQ(qmp->Status().value_or("?"), "running");
  ASSERT_TRUE((*agent)->Shutdown(absl::Seconds(5)).ok());
  auto code = g->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
  EXPECT_NE(g->Console().find("root verified (dm-verity)"), std::string::npos) << g->Console();
}

TEST_F(ImageBootTest, RuntimeAndWorkspaceDisksAreMounted) {
  GuestOptions o;
  for (auto [name, path] : {std::pair<const char*, std::string*>{"runtime", &o.runtime_disk},
                            {"workspace", &o.workspace_disk}}) {
    *path = dir_.Sub(std::string(name) + ".img");
    auto made = RunProcess({"mkfs.ext4", "-q", "-F", *path, "16M"});
    ASSERT_TRUE(made.ok() && made->exit_code == 0) << (made.ok() ? made->err : "mkfs.ext4 missing");
  }
  auto g = Boot(o);
  ASSERT_TRUE(g);
  auto agent = g->ConnectAgent(absl::Seconds(60));
  ASSERT_TRUE(agent.ok()) << agent.status() << "\nconsole:\n" << g->Console();
  auto mounts = g->Exec(**agent, {"cat", "/proc/mounts"});
  ASSERT_TRUE(mounts.ok()) << mounts.status();
  EXPECT_NE(mounts->find(" /var ext4 "), std::string::npos) << *mounts;
  EXPECT_NE(mounts->find(" /workspace ext4 "), std::string::npos) << *mounts;
  // The hard stop path: QMP quit ends QEMU at once.
  auto qmp = g->Qmp();
  ASSERT_TRUE(qmp.ok()) << qmp.status();
  qmp->Execute("quit").IgnoreError();  // QEMU may close before answering
  EXPECT_TRUE(g->Wait(absl::Seconds(10)).ok());
}

TEST_F(ImageBootTest, MissingHashDiskStopsTheBootWithAClearMessage) {
  GuestOptions o;
  o.omit_hash_disk = true;
  auto g = Boot(o);
  ASSERT_TRUE(g);
  ASSERT_TRUE(g->Wait(absl::Seconds(90)).ok()) << "the guest should power itself off\n"
                                               << g->Console();
  EXPECT_NE(g->Console().find("clawos-init: FATAL: root disk (serial clawos-root) or hash disk "
                              "(serial clawos-hash) is missing"),
            std::string::npos)
      << g->Console();
}

TEST_F(ImageBootTest, FlippedByteInAFileIsAnIoErrorInsideTheGuest) {
  std::string rootfs = ReadFile(ImageDir() + "/rootfs.img").value();
  size_t at = rootfs.find("clawos-image name=");
  ASSERT_NE(at, std::string::npos) << "release file not found in the rootfs image";
  rootfs[at + 3] ^= 0x20;
  std::string tampered = dir_.Sub("tampered.img");
  ASSERT_TRUE(WriteFileAtomic(tampered, rootfs, 0644).ok());
  rootfs.clear();

  GuestOptions o;
  o.rootfs_override = tampered;
  auto g = Boot(o);
  ASSERT_TRUE(g);
  ASSERT_TRUE(g->Wait(absl::Seconds(90)).ok()) << "the guest should power itself off\n"
                                               << g->Console();
  std::string console = g->Console();
  EXPECT_NE(console.find("clawos-agent: FATAL: cannot read /etc/clawos/release: Input/output "
                         "error; powering off"),
            std::string::npos)
      << console;
  EXPECT_NE(console.find("verity"), std::string::npos) << console;
  EXPECT_NE(console.find("is corrupted"), std::string::npos) << console;
}

TEST_F(ImageBootTest, WrongRootHashStopsTheBootWithAClearMessage) {
  GuestOptions o;
  o.extra_cmdline = "clawos.root_hash=" + std::string(64, 'a');
  auto g = Boot(o);
  ASSERT_TRUE(g);
  auto code = g->Wait(absl::Seconds(90));
  ASSERT_TRUE(code.ok()) << "the guest should power itself off\n" << g->Console();
  std::string console = g->Console();
  EXPECT_NE(console.find("clawos-init: FATAL: cannot mount the verified root"), std::string::npos)
      << console;
  EXPECT_EQ(console.find("clawos-agent"), std::string::npos) << "never reached the agent";
}

}  // namespace
}  // namespace clawos::testing
