#include "common/files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

namespace clawos {
namespace {

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/files_test_" + std::to_string(getpid()) + "_" + name;
}

mode_t ModeOf(const std::string& p) {
  struct stat st {};
  stat(p.c_str(), &st);
  return st.st_mode & 07777;
}

TEST(FilesTest, PrivateDirIsCreated0700AndWideOnesRefused) {
  std::string dir = TempPath("d") + "/nested/state";
  ASSERT_TRUE(EnsurePrivateDir(dir).ok());
  EXPECT_EQ(ModeOf(dir), 0700u);
  chmod(dir.c_str(), 0755);
  auto s = EnsurePrivateDir(dir);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("0755"), std::string::npos) << s;
}

TEST(FilesTest, AtomicWriteSetsModeEvenUnderWideUmask) {
  std::string p = TempPath("secret");
  mode_t old = umask(0);
  ASSERT_TRUE(WriteFileAtomic(p, "abc", 0600).ok());
  umask(old);
  EXPECT_EQ(ModeOf(p), 0600u);
  EXPECT_EQ(ReadFile(p).value(), "abc");
  EXPECT_TRUE(CheckPrivateFile(p).ok());
  chmod(p.c_str(), 0644);
  EXPECT_EQ(CheckPrivateFile(p).code(), absl::StatusCode::kFailedPrecondition);
  unlink(p.c_str());
  EXPECT_EQ(ReadFile(p).status().code(), absl::StatusCode::kNotFound);
}

TEST(FilesTest, ReadFileStopsAtItsBound) {
  std::string p = TempPath("sized");
  ASSERT_TRUE(WriteFileAtomic(p, std::string(100, 'x'), 0600).ok());
  EXPECT_EQ(ReadFile(p, 100).value().size(), 100u) << "exactly the bound is fine";
  auto over = ReadFile(p, 99);
  EXPECT_EQ(over.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(over.status().message(), p + " is over 99 bytes");
  unlink(p.c_str());
  // A link to an endless file costs the bound, not all memory.
  std::string link = TempPath("zero");
  ASSERT_EQ(symlink("/dev/zero", link.c_str()), 0);
  EXPECT_EQ(ReadFile(link, 1 << 20).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(ReadFile(link).status().code(), absl::StatusCode::kOutOfRange) << "64 MiB by default";
  unlink(link.c_str());
}

TEST(FilesTest, ReadFileTailReadsOnlyTheEnd) {
  std::string p = TempPath("log");
  ASSERT_TRUE(WriteFileAtomic(p, std::string(100000, 'a') + "the end", 0600).ok());
  EXPECT_EQ(ReadFileTail(p, 7).value(), "the end");
  EXPECT_EQ(ReadFileTail(p, 1 << 20).value().size(), 100007u) << "a short file whole";
  unlink(p.c_str());
  EXPECT_EQ(ReadFileTail("/dev/zero", 10).value(), std::string(10, '\0')) << "not a regular file";
  EXPECT_EQ(ReadFileTail(p, 10).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace clawos
