// A VM's log against a guest that floods it: every bound of LogBounds holds,
// and what is kept is safe text.
#include "vm-launcher/vm_log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/testing/temp_dir.h"
#include "common/utf8.h"

namespace clawos::launcher {
namespace {

int64_t FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

void AppendTo(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  ::close(fd);
}

TEST(VmLogTest, EveryFieldIsBoundedSafeText) {
  clawos::testing::TempDir dir;
  auto log = VmLog::Open(dir.path()).value();
  log->Append(LogSource::kAgent, absl::Now(), std::string(100000, 'L'),
              "\x1b]0;pwned\x07\xff\xfe " + std::string(100000, 'x'));
  auto r = log->Read({});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_LE(r[0].level.size(), 16u);
  EXPECT_LE(r[0].text.size(), 4096u);
  EXPECT_TRUE(IsValidUtf8(r[0].text));
  EXPECT_EQ(r[0].text.find('\x1b'), std::string::npos);
  EXPECT_EQ(r[0].text.find('\x07'), std::string::npos);
  // The same after a reopen (read back from logs.jsonl).
  auto again = VmLog::Open(dir.path()).value()->Read({});
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].text, r[0].text);
  EXPECT_EQ(again[0].level, r[0].level);
}

TEST(VmLogTest, AFloodIsRateLimitedAndSaysHowMuchWasDropped) {
  clawos::testing::TempDir dir;
  LogBounds b;
  b.lines_per_second = 100;
  b.burst_lines = 50;
  auto log = VmLog::Open(dir.path(), b).value();
  int kept = 0;
  for (int i = 0; i < 10000; ++i) kept += log->Append(LogSource::kAgent, absl::Now(), "info", "x");
  EXPECT_LT(kept, 200) << "a burst and what the rate refilled";
  EXPECT_EQ(log->dropped(), 10000 - kept);
  absl::SleepFor(absl::Milliseconds(100));  // the rate refills
  ASSERT_TRUE(log->Append(LogSource::kAgent, absl::Now(), "info", "after"));
  auto r = log->Read({});
  ASSERT_GE(r.size(), 2u);
  EXPECT_EQ(r.back().text, "after");
  EXPECT_NE(r[r.size() - 2].text.find(" log lines dropped"), std::string::npos)
      << r[r.size() - 2].text;
}

TEST(VmLogTest, MemoryAndFilesStayUnderTheirBounds) {
  clawos::testing::TempDir dir;
  LogBounds b;
  b.memory_bytes = 64 << 10;
  b.file_bytes = 256 << 10;
  b.lines_per_second = 1e9;
  b.burst_lines = 1e9;
  auto log = VmLog::Open(dir.path(), b).value();
  const std::string line(1000, 'y');
  for (int i = 0; i < 2000; ++i) log->Append(LogSource::kAgent, absl::Now(), "info", line);
  EXPECT_LE(log->memory_bytes(), size_t{64 << 10});
  EXPECT_LE(FileSize(dir.Sub("logs.jsonl")), int64_t{256 << 10} + 2000);
  EXPECT_LE(FileSize(dir.Sub("logs.jsonl.1")), int64_t{256 << 10} + 2000);
  EXPECT_EQ(log->last_sequence(), 2000);
  // A reopen reads only the tail, and the sequence goes on from the last line.
  auto reopened = VmLog::Open(dir.path(), b).value();
  EXPECT_EQ(reopened->last_sequence(), 2000);
  EXPECT_LE(reopened->memory_bytes(), size_t{64 << 10});
  reopened->Append(LogSource::kAgent, absl::Now(), "info", "next");
  EXPECT_EQ(reopened->Read({}).back().sequence, 2001);
}

TEST(VmLogTest, ConsoleIsPumpedInBoundedSlicesAndTruncatedWhenCaughtUp) {
  clawos::testing::TempDir dir;
  LogBounds b;
  b.pump_bytes = 64 << 10;
  b.console_bytes = 128 << 10;
  b.lines_per_second = 1e9;
  b.burst_lines = 1e9;
  auto log = VmLog::Open(dir.path(), b).value();
  const std::string console = dir.Sub("console.log");
  std::string flood;
  for (int i = 0; i < 4000; ++i) absl::StrAppend(&flood, "line ", i, " \xff\x1b[2J\n");  // ~60 KiB
  AppendTo(console, flood + flood + flood);
  log->PumpConsole(console);
  EXPECT_LT(log->last_sequence(), 12000) << "one pump reads one slice";
  for (int i = 0; i < 10; ++i) log->PumpConsole(console);
  EXPECT_EQ(log->last_sequence(), 12000);
  EXPECT_EQ(FileSize(console), 0) << "pumped past its cap, then emptied";
  for (const auto& r : log->Read({.tail = 5})) {
    EXPECT_TRUE(IsValidUtf8(r.text));
    EXPECT_EQ(r.text.find('\x1b'), std::string::npos);
  }
  AppendTo(console, "after truncation\n");  // QEMU appends at the new end
  log->PumpConsole(console);
  EXPECT_EQ(log->Read({}).back().text, "after truncation");
}

}  // namespace
}  // namespace clawos::launcher

namespace clawos::launcher {
namespace {

// A failure reason quotes the console's end: it must survive console.log's
// truncation (a guest that flooded its console, then crashed, once left an
// empty tail) and be safe text cut at a character boundary.
TEST(VmLogTest, ConsoleTailOutlivesTheTruncationAndIsSafeText) {
  clawos::testing::TempDir dir;
  LogBounds b;
  b.console_bytes = 4 << 10;
  b.lines_per_second = 1e9;
  b.burst_lines = 1e9;
  auto log = VmLog::Open(dir.path(), b).value();
  const std::string console = dir.Sub("console.log");
  EXPECT_EQ(log->ConsoleTail(600), "");
  std::string flood;
  for (int i = 0; i < 500; ++i) absl::StrAppend(&flood, "boot line ", i, "\n");
  AppendTo(console, flood + "\xff\xfe bad\n\x1b[2Jreboot: Power down");
  log->Append(LogSource::kAgent, absl::Now(), "info", "an agent line is not console");
  log->PumpConsole(console);
  ASSERT_EQ(FileSize(console), 0) << "pumped past its cap, then emptied";
  std::string tail = log->ConsoleTail(600);
  EXPECT_LE(tail.size(), 600u);
  EXPECT_TRUE(IsValidUtf8(tail));
  EXPECT_NE(tail.find("boot line 499\n\xef\xbf\xbd\xef\xbf\xbd bad\n"), std::string::npos) << tail;
  EXPECT_EQ(tail.find("agent line"), std::string::npos) << tail;
  EXPECT_EQ(tail.find('\x1b'), std::string::npos) << tail;
  EXPECT_TRUE(absl::EndsWith(tail, "\xef\xbf\xbd[2Jreboot: Power down\n"))
      << "the line not yet ended when the file was emptied is kept: " << tail;
  EXPECT_EQ(tail.find("boot line 1\n"), std::string::npos) << "only the end";
  for (size_t max : {1u, 7u, 50u, 599u}) {
    std::string cut = log->ConsoleTail(max);
    EXPECT_LE(cut.size(), max);
    EXPECT_TRUE(IsValidUtf8(cut)) << max;
  }
}

}  // namespace
}  // namespace clawos::launcher
