#include "vm-launcher/cgroup.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/process.h"

namespace clawos::launcher {
namespace {

std::string Read(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The real cgroup filesystem of this machine (hybrid here, unified on current
// distributions): a VMM-like process is placed, limited, found and cleaned up.
TEST(VmCgroupTest, RealCgroupHoldsAndLimitsAProcess) {
  if (geteuid() != 0) GTEST_SKIP() << "SKIPPED: needs root to create cgroups";
  auto layout = DetectCgroupLayout();
  if (!layout.ok()) GTEST_SKIP() << "SKIPPED: " << layout.status();
  std::string name = absl::StrCat("test-", getpid());
  CgroupLimits limits{256 << 20, 50000, 100000, 64};
  auto cg = VmCgroup::Create("/sys/fs/cgroup", *layout, "clawos-test", name, limits);
  ASSERT_TRUE(cg.ok()) << cg.status();
  EXPECT_GT(cg->id(), 0u);

  pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  ASSERT_TRUE(cg->AddProcess(child).ok());
  EXPECT_EQ(cg->Processes(), std::vector<pid_t>{child});
  std::string membership = Read(absl::StrCat("/proc/", child, "/cgroup"));
  EXPECT_NE(membership.find("clawos-test/" + name), std::string::npos) << membership;
  if (*layout == CgroupLayout::kHybrid) {
    EXPECT_EQ(Read("/sys/fs/cgroup/memory/clawos-test/" + name + "/memory.limit_in_bytes"),
              std::to_string(256 << 20) + "\n");
    EXPECT_EQ(Read("/sys/fs/cgroup/cpu/clawos-test/" + name + "/cpu.cfs_quota_us"), "50000\n");
    EXPECT_EQ(Read("/sys/fs/cgroup/pids/clawos-test/" + name + "/pids.max"), "64\n");
  } else {
    EXPECT_EQ(Read(cg->v2_path() + "/memory.max"), std::to_string(256 << 20) + "\n");
    EXPECT_EQ(Read(cg->v2_path() + "/cpu.max"), "50000 100000\n");
  }
  auto reopened = VmCgroup::Open("/sys/fs/cgroup", *layout, "clawos-test", name);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(reopened->id(), cg->id()) << "the monitor's cgroup id survives a launcher restart";

  ASSERT_TRUE(cg->Destroy().ok()) << "kills what is left and removes the directories";
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_FALSE(PathExists(cg->v2_path()));
  EXPECT_EQ(VmCgroup::Open("/sys/fs/cgroup", *layout, "clawos-test", name).status().code(),
            absl::StatusCode::kNotFound);
  for (const char* h : {"", "/unified", "/memory", "/cpu", "/pids"}) {
    ::rmdir(absl::StrCat("/sys/fs/cgroup", h, "/clawos-test").c_str());  // the test's parent
  }
}

TEST(VmCgroupTest, DetectsLayoutAndRejectsBadNames) {
  EXPECT_EQ(DetectCgroupLayout("/nonexistent").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(VmCgroup::Create("/sys/fs/cgroup", CgroupLayout::kUnified, "clawos", "../etc", {})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace clawos::launcher
