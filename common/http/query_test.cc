#include "common/http/query.h"

#include <gtest/gtest.h>

namespace clawos::http {
namespace {

TEST(ParseTargetTest, PathAndDecodedQuery) {
  auto t = ParseTarget("/v1/vms/a%20b?filter=state%3DRUNNING&page_size=10&x=a+b&flag&x=last");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->path, "/v1/vms/a b");
  EXPECT_EQ(t->query.at("filter"), "state=RUNNING");
  EXPECT_EQ(t->query.at("page_size"), "10");
  EXPECT_EQ(t->query.at("flag"), "");
  EXPECT_EQ(t->query.at("x"), "last") << "the last value wins";
  ASSERT_EQ(t->params.size(), 5u) << "every parameter, in order";
  EXPECT_EQ(t->params[2], std::make_pair(std::string("x"), std::string("a b")));
  EXPECT_EQ(t->params[4].second, "last");
}

TEST(ParseTargetTest, PlusIsASpaceOnlyInTheQuery) {
  auto t = ParseTarget("/a+b?q=c+d");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->path, "/a+b");
  EXPECT_EQ(t->query.at("q"), "c d");
}

TEST(ParseTargetTest, BadEscapesAreRefused) {
  for (const char* bad : {"/v1/%zz", "/v1/%4", "/v1?q=%", "/v1?%g1=x"}) {
    auto t = ParseTarget(bad);
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

// Found by controlplane_fuzz (seed regression_escape_error_not_utf8): the
// error quoted up to 64 bytes of the target, invalid UTF-8 and controls too.
TEST(ParseTargetTest, BadEscapeMessagesAreAsciiAndShort) {
  auto t = ParseTarget("/v1/vms?filter=%zz");
  EXPECT_EQ(t.status().message(), "bad %-escape \"%zz\"");
  t = ParseTarget(std::string("/v1\xd7vms?f\x9b\x01%\xff\x01", 14));
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t.status().message(), "bad %-escape: '%' must be followed by two hex digits");
}

}  // namespace
}  // namespace clawos::http
