// What the CLI does with bytes a guest controls: the terminal escaping of its
// text (logs, failure reasons, names), and `vm cp`'s writer on real files:
// the masked mode, the declared size enforced both ways, the destination left
// as it was on any refusal, no temporary file left behind.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "clawos/launcher/v1/launcher.pb.h"
#include "cli/context.h"
#include "cli/guest_file.h"
#include "cli/terminal_text.h"
#include "common/files.h"
#include "common/testing/temp_dir.h"
#include "common/utf8.h"

namespace clawos::cli {
namespace {

// No byte a terminal treats as a control, other than '\n' and '\t'.
bool HasNoControls(const std::string& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) return false;
    if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) < 0xA0) {
      return false;
    }
  }
  return true;
}

TEST(TerminalSafeTest, EscapesEveryControlButNewlineAndTab) {
  EXPECT_EQ(TerminalSafe("title \x1b]0;pwned\x07 clear \x1b[2J"),
            "title \\x1b]0;pwned\\x07 clear \\x1b[2J");
  EXPECT_EQ(TerminalSafe("a\tb\nc\rd\x7f"), "a\tb\nc\\x0dd\\x7f");
  EXPECT_EQ(TerminalSafe(std::string("nul\0!", 5)), "nul\\x00!");
  // C1 controls as UTF-8 (CSI is U+009B, OSC U+009D): the 8-bit forms of ESC [ and ESC ].
  EXPECT_EQ(TerminalSafe("\xc2\x9b"
                         "2J \xc2\x9d"
                         "0;x\xc2\x9c"),
            "\\u009b2J \\u009d0;x\\u009c");
  EXPECT_EQ(TerminalSafe("\xc2\x80\xc2\x9f\xc2\xa0"), "\\u0080\\u009f\xc2\xa0")
      << "U+00A0 is no control";
}

TEST(TerminalSafeTest, KeepsTextAndWritesInvalidUtf8AsBytes) {
  const std::string text = "plain ascii, caf\xc3\xa9, \xe2\x82\xac 5, \xf0\x9f\x90\x88, [ok] 100%";
  EXPECT_EQ(TerminalSafe(text), text);
  EXPECT_EQ(TerminalSafe("\xff\xfe bad"), "\\xff\\xfe bad");
  EXPECT_EQ(TerminalSafe("cut \xe2\x82"), "cut \\xe2\\x82");
  EXPECT_EQ(TerminalSafe("\xc0\x9b overlong ESC"), "\\xc0\\x9b overlong ESC");
  EXPECT_EQ(TerminalSafe("\xed\xa0\x80 surrogate"), "\\xed\\xa0\\x80 surrogate");
  EXPECT_EQ(TerminalSafe("\x9b raw C1 byte"), "\\x9b raw C1 byte");
}

TEST(TerminalSafeTest, EveryByteStringComesOutFreeOfControlsAndValid) {
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  for (int c = 0x80; c < 0xA0; ++c) all += std::string("\xc2") + static_cast<char>(c);
  for (const std::string& s : {all, TerminalSafe(all)}) {
    std::string out = TerminalSafe(s);
    EXPECT_TRUE(HasNoControls(out));
    EXPECT_TRUE(IsValidUtf8(out));
    EXPECT_EQ(out.find('\x1b'), std::string::npos);
  }
}

TEST(TerminalSafeTest, LineFormEscapesLineBreaksToo) {
  EXPECT_EQ(TerminalSafeLine("boot failed\nfake: line\tx\x1b[31m"),
            "boot failed\\nfake: line\\tx\\x1b[31m");
}

TEST(TerminalSafeTest, JsonKeepsItsValueAndLosesRawControls) {
  launcher::v1::LogEntry e;
  e.set_text(
      "esc \x1b[2J del \x7f csi \xc2\x9b"
      "2J nbsp \xc2\xa0 caf\xc3\xa9");
  std::string json = ToJson(e);  // the CLI's: protobuf's JSON through JsonTerminalSafe
  EXPECT_TRUE(HasNoControls(json)) << json;
  auto back = nlohmann::json::parse(json, nullptr, false);
  ASSERT_TRUE(back.is_object()) << json;
  EXPECT_EQ(back["text"].get<std::string>(), e.text()) << "the value is exact";
  EXPECT_EQ(JsonTerminalSafe("{\"a\": \"\x7f\xc2\x85\"}"), "{\"a\": \"\\u007f\\u0085\"}");
}

TEST(CopiedModeTest, DropsSpecialAndWorldWriteBitsAndAppliesTheUmask) {
  EXPECT_EQ(CopiedMode(04777, 022), 0755u);
  EXPECT_EQ(CopiedMode(06777, 0), 0775u) << "never world-writable, even with umask 0";
  EXPECT_EQ(CopiedMode(01777, 002), 0775u);
  EXPECT_EQ(CopiedMode(0755, 022), 0755u) << "an executable stays executable";
  EXPECT_EQ(CopiedMode(0700, 077), 0700u);
  EXPECT_EQ(CopiedMode(0644, 022), 0644u);
  EXPECT_EQ(CopiedMode(0666, 027), 0640u);
  EXPECT_EQ(CopiedMode(0xFFFFFFFF, 0), 0775u) << "bits above 07777 are ignored";
}

TEST(CopyTargetTest, ADirectoryGetsTheBaseNameTheUserTyped) {
  testing::TempDir dir;
  EXPECT_EQ(CopyTarget(dir.path(), "/workspace/a.txt").value(), dir.Sub("a.txt"));
  EXPECT_EQ(CopyTarget(dir.path() + "/", "/workspace/a.txt").value(), dir.Sub("a.txt"));
  EXPECT_EQ(CopyTarget(dir.Sub("new.txt"), "/workspace/a.txt").value(), dir.Sub("new.txt"));
  for (const char* bad : {"/workspace/", "/workspace/..", "/workspace/.", "/"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(CopyTarget(dir.path(), bad).status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(CopyTarget(dir.path(), std::string("/w/a\0b", 6)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

class GuestFileWriterTest : public ::testing::Test {
 protected:
  // The files in the directory, so a test sees any temporary file left over.
  std::vector<std::string> Files() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
      names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }
  mode_t ModeOf(const std::string& path) const {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }

  testing::TempDir dir_;
  std::string target_ = dir_.Sub("out.bin");
};

TEST_F(GuestFileWriterTest, WritesTheDeclaredBytesWithAMaskedMode) {
  const std::string content(1 << 20, 'x');
  auto w = GuestFileWriter::ToFile(target_);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE((*w)->Header(static_cast<int64_t>(content.size()), 04777).ok());
  EXPECT_FALSE(PathExists(target_)) << "nothing is in place before the end";
  std::vector<std::string> during = Files();
  ASSERT_EQ(during.size(), 1u);
  EXPECT_EQ(during[0].rfind(".clawos-cp-", 0), 0u) << during[0];
  EXPECT_EQ(ModeOf(dir_.Sub(during[0])), 0600u) << "private while it is written";
  for (size_t off = 0; off < content.size(); off += 512 << 10) {
    ASSERT_TRUE((*w)->Data(std::string_view(content).substr(off, 512 << 10)).ok());
  }
  ASSERT_TRUE((*w)->Finish().ok());
  EXPECT_EQ(ReadFile(target_).value_or(""), content);
  EXPECT_EQ(ModeOf(target_), CopiedMode(04777, ProcessUmask()));
  EXPECT_EQ(ModeOf(target_) & 07002, 0u) << "no setuid, setgid, sticky or world-write";
  EXPECT_EQ(Files(), std::vector<std::string>{"out.bin"});
}

TEST_F(GuestFileWriterTest, TheProcessUmaskApplies) {
  mode_t old = ::umask(077);
  auto w = GuestFileWriter::ToFile(target_);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Header(2, 0775).ok());
  ASSERT_TRUE((*w)->Data("ok").ok());
  absl::Status s = (*w)->Finish();
  ::umask(old);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(ModeOf(target_), 0700u);
}

TEST_F(GuestFileWriterTest, MoreThanDeclaredIsRefusedAndTheDestinationKept) {
  ASSERT_TRUE(WriteFileAtomic(target_, "before", 0640).ok());
  {
    auto w = GuestFileWriter::ToFile(target_);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Header(4, 0644).ok());
    ASSERT_TRUE((*w)->Data("abc").ok());
    absl::Status s = (*w)->Data("de");
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
    EXPECT_NE(s.message().find("left as it was"), std::string::npos) << s;
  }
  EXPECT_EQ(ReadFile(target_).value_or(""), "before");
  EXPECT_EQ(ModeOf(target_), 0640u);
  EXPECT_EQ(Files(), std::vector<std::string>{"out.bin"}) << "the temporary file is gone";
}

TEST_F(GuestFileWriterTest, FewerThanDeclaredIsRefusedAtTheEnd) {
  ASSERT_TRUE(WriteFileAtomic(target_, "before", 0640).ok());
  auto w = GuestFileWriter::ToFile(target_);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Header(4096, 0644).ok());
  ASSERT_TRUE((*w)->Data("short").ok());
  absl::Status s = (*w)->Finish();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("5 of the 4096"), std::string::npos) << s;
  w->reset();
  EXPECT_EQ(ReadFile(target_).value_or(""), "before");
  EXPECT_EQ(Files(), std::vector<std::string>{"out.bin"});
}

TEST_F(GuestFileWriterTest, ProtocolViolationsAreRefused) {
  auto w = GuestFileWriter::ToFile(target_);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->Data("x").code(), absl::StatusCode::kInvalidArgument) << "data before header";
  EXPECT_EQ((*w)->Finish().code(), absl::StatusCode::kDataLoss) << "no header at all";
  EXPECT_EQ((*w)->Header(-1, 0644).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE((*w)->Header(0, 0644).ok());
  EXPECT_EQ((*w)->Header(0, 0644).code(), absl::StatusCode::kInvalidArgument) << "a second one";
  EXPECT_EQ((*w)->Data("x").code(), absl::StatusCode::kDataLoss) << "a declared empty file";
  ASSERT_TRUE((*w)->Finish().ok()) << "the empty file itself is fine";
  EXPECT_EQ(ReadFile(target_).value_or("?"), "");
}

TEST_F(GuestFileWriterTest, AnUnwritableDirectoryFailsBeforeAnythingIsAsked) {
  auto w = GuestFileWriter::ToFile(dir_.Sub("no-such-dir/out.bin"));
  EXPECT_EQ(w.status().code(), absl::StatusCode::kNotFound) << w.status();
}

TEST_F(GuestFileWriterTest, ToAnFdWritesAsItComesAndStillChecksTheSize) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  {
    auto w = GuestFileWriter::ToFd(fds[1]);
    ASSERT_TRUE(w->Header(3, 04777).ok());
    ASSERT_TRUE(w->Data("ab").ok());
    absl::Status s = w->Finish();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
    EXPECT_EQ(s.message().find("left as it was"), std::string::npos) << "nothing to undo: " << s;
  }
  ::close(fds[1]);
  char buf[8];
  EXPECT_EQ(::read(fds[0], buf, sizeof buf), 2);
  ::close(fds[0]);
}

}  // namespace
}  // namespace clawos::cli
