#include "image/cpio.h"

#include <gtest/gtest.h>

#include "common/files.h"
#include "common/process.h"
#include "common/testing/temp_dir.h"

namespace clawos::image {
namespace {

TEST(CpioTest, DeterministicAndReadableByCpio) {
  CpioArchive a(1700000000), b(1700000000);
  a.AddFile("init", "#!/bin/sh\n", 0755);
  a.AddFile("lib/modules/x.ko", std::string(5, 'k'));
  a.AddSymlink("bin/sh", "busybox");
  a.AddCharDevice("dev/console", 5, 1);
  // Same entries, other order: same bytes.
  b.AddCharDevice("dev/console", 5, 1);
  b.AddSymlink("bin/sh", "busybox");
  b.AddFile("lib/modules/x.ko", std::string(5, 'k'));
  b.AddFile("init", "#!/bin/sh\n", 0755);
  std::string bytes = a.Serialize();
  EXPECT_EQ(bytes, b.Serialize());
  EXPECT_EQ(bytes.size() % 4, 0u);
  EXPECT_NE(bytes.find("TRAILER!!!"), std::string::npos);

  auto listing = RunProcess({"busybox", "cpio", "-t", "-v"}, {bytes, {}, absl::Seconds(10), ""});
  if (!listing.ok()) GTEST_SKIP() << "SKIPPED: busybox not installed";
  EXPECT_EQ(listing->exit_code, 0) << listing->err;
  for (const char* name :
       {"init", "lib/modules/x.ko", "bin/sh -> busybox", "dev/console", "lib/modules"}) {
    EXPECT_NE(listing->out.find(name), std::string::npos) << name << " in\n" << listing->out;
  }
}

}  // namespace
}  // namespace clawos::image
