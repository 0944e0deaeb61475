#include "common/http/sse.h"

#include <gtest/gtest.h>

#include <vector>

namespace clawos::http {
namespace {

// What the control plane writes for `clawos vm logs`.
const std::string kLogStream =
    "retry: 3000\n\n"
    "id: 7\nevent: log\ndata: {\"text\":\"boot\"}\n\n"
    ": keep-alive\n\n"
    "id: 8\nevent: log\ndata: {\"text\":\"a: b\"}\n\n"
    "event: error\ndata: {\"code\":14}\n\n";

// The blocks with a name or data, fed in pieces of `cut` bytes (0: whole).
std::vector<SseEvent> Split(const std::string& text, size_t cut, std::string* raw_all = nullptr) {
  std::vector<SseEvent> out;
  SseSplitter s([&](const SseEvent& e, std::string_view raw) {
    if (raw_all) raw_all->append(raw);
    if (!e.name.empty() || !e.data.empty()) out.push_back(e);
  });
  std::string error;
  if (cut == 0) cut = text.size();
  for (size_t i = 0; i < text.size(); i += cut) EXPECT_TRUE(s.Feed(text.substr(i, cut), &error));
  return out;
}

TEST(SseSplitterTest, SplitsTheSameHoweverTheStreamIsCut) {
  for (size_t cut : {0, 1, 2, 3, 5, 7, 16, 64}) {
    SCOPED_TRACE(cut);
    std::string raw;
    auto ev = Split(kLogStream, cut, &raw);
    EXPECT_EQ(raw, kLogStream) << "every byte is handed on, comments too";
    ASSERT_EQ(ev.size(), 3u);
    EXPECT_EQ(ev[0].id, "7");
    EXPECT_EQ(ev[0].name, "log");
    EXPECT_EQ(ev[0].data, R"({"text":"boot"})");
    EXPECT_EQ(ev[1].id, "8");
    EXPECT_EQ(ev[1].data, R"({"text":"a: b"})");
    EXPECT_EQ(ev[2].name, "error");
    EXPECT_EQ(ev[2].id, "");
  }
}

TEST(SseSplitterTest, FollowsTheFieldRules) {
  std::string pending;
  auto ev = Split(
      "data: one\r\ndata:two\r\n\r\n"        // CRLF, no space after the colon
      ":comment\nretry: 10\nunknown: x\n\n"  // nothing
      "id: 3\ndata\n\n",                     // a field without a colon: empty data
      0);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].name, "");
  EXPECT_EQ(ev[0].data, "one\ntwo");
  SseSplitter s([](const SseEvent&, std::string_view) {});
  std::string error;
  EXPECT_TRUE(s.Feed("event: vm\ndata: {}\n", &error));
  EXPECT_EQ(s.pending(), "event: vm\ndata: {}\n") << "an unterminated event waits";
  EXPECT_FALSE(s.Feed(std::string(9 << 20, 'x'), &error));
  EXPECT_NE(error.find("8 MiB"), std::string::npos);
}

}  // namespace
}  // namespace clawos::http
