#include "common/utf8.h"

#include <gtest/gtest.h>

namespace clawos {
namespace {

TEST(Utf8Test, KeepsWellFormedTextAndReplacesTheRest) {
  EXPECT_EQ(ToValidUtf8("ok \xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80"),
            "ok \xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80");
  EXPECT_EQ(ToValidUtf8("a\xff"
                        "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(ToValidUtf8("\xe2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // cut short
  EXPECT_EQ(ToValidUtf8("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
  EXPECT_EQ(ToValidUtf8("\xc0\xaf"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong '/'
  EXPECT_EQ(ToValidUtf8("\xf4\x90\x80\x80"),                                       // past U+10FFFF
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(Utf8Test, IsValidAgreesWithTheRepair) {
  for (std::string_view s : {"", "plain", "\xc3\xa9", "\xff", "\xe2\x82", "\xed\xa0\x80",
                             "\xc0\xaf", "\xf0\x9f\x98\x80", "\xf4\x90\x80\x80"}) {
    EXPECT_EQ(IsValidUtf8(s), ToValidUtf8(s) == s) << s;
  }
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_TRUE(IsValidUtf8("\xe2\x98\x83"));
}

TEST(Utf8Test, FirstInvalidNamesTheOffset) {
  EXPECT_EQ(FirstInvalidUtf8("ok \xc3\xa9"), std::string_view::npos);
  EXPECT_EQ(FirstInvalidUtf8("ab\xc3\xa9\xff"), 4u);
  EXPECT_EQ(FirstInvalidUtf8("\xe2\x82"), 0u) << "a sequence cut short starts the bad part";
  EXPECT_EQ(FirstInvalidUtf8("x\xed\xa0\x80"), 1u);
}

TEST(Utf8Test, SafeTextHasNoControlsAndKeepsItsBound) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(ToSafeText("a\x1b[2Jb\x07", 100), "a" + r + "[2Jb" + r);
  EXPECT_EQ(ToSafeText("line\r\nnext\ttab", 100), "line\nnext\ttab");
  EXPECT_EQ(ToSafeText("one\ntwo", 100, false), "one" + r + "two");
  EXPECT_EQ(ToSafeText("\x7f\xc2\x9b\xc2\xa0", 100), r + r + "\xc2\xa0");  // DEL, CSI; NBSP kept
  EXPECT_EQ(ToSafeText("\xff\xfe bad", 100), r + r + " bad");
  // Cut at a character boundary, never inside one.
  EXPECT_EQ(ToSafeText("ab\xe2\x98\x83", 4), "ab");
  EXPECT_EQ(ToSafeText("ab\xe2\x98\x83", 5), "ab\xe2\x98\x83");
  for (std::string_view s : {"\xff\xfe", "\x1b]0;x\x07", "\xe2\x82", "ok"}) {
    EXPECT_TRUE(IsValidUtf8(ToSafeText(s, 3))) << s;
    EXPECT_LE(ToSafeText(s, 3).size(), 3u) << s;
  }
}

}  // namespace
}  // namespace clawos
