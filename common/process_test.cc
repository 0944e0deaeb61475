#include "common/process.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include "common/files.h"
#include "common/testing/temp_dir.h"

namespace clawos {
namespace {

TEST(SpawnWithLogTest, JoiningFirstReportsWhatFailed) {
  clawos::testing::TempDir dir;
  auto bad = SpawnWithLog({"/bin/true"}, {}, dir.Sub("log"), {dir.Sub("no/such/cgroup.procs")});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("joining " + dir.Sub("no/such/cgroup.procs")),
            std::string_view::npos)
      << bad.status();

  // A plain file stands in for cgroup.procs: the child writes "0" to it, then runs.
  ASSERT_TRUE(WriteFileAtomic(dir.Sub("procs"), "", 0600).ok());
  auto ok = SpawnWithLog({"sh", "-c", "echo ran"}, {}, dir.Sub("log"), {dir.Sub("procs")});
  ASSERT_TRUE(ok.ok()) << ok.status();
  int status = 0;
  waitpid(*ok, &status, 0);
  EXPECT_EQ(ExitCodeOf(status), 0);
  EXPECT_EQ(ReadFile(dir.Sub("procs")).value(), "0");
  EXPECT_EQ(ReadFile(dir.Sub("log")).value(), "ran\n") << "found on PATH, output in the log";

  auto missing = SpawnWithLog({"/no/such/program"}, {}, dir.Sub("log"), {dir.Sub("procs")});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("executing /no/such/program"), std::string_view::npos)
      << missing.status();
}

}  // namespace
}  // namespace clawos
