#include "inference-proxy/usage.h"

#include <gtest/gtest.h>

#include <vector>

namespace clawos::proxy {
namespace {

TEST(SseTest, SplitsEventsAcrossArbitraryChunkBoundaries) {
  std::string wire =
      "event: message_start\ndata: {\"a\":1}\n\n: comment\ndata: line1\ndata: line2\n\n"
      "data: [DONE]\r\n\r\n";
  for (size_t step : {1, 3, 7, 1000}) {
    std::vector<http::SseEvent> events;
    std::string raw_all;
    http::SseSplitter split([&](const http::SseEvent& e, std::string_view raw) {
      events.push_back(e);
      raw_all += raw;
    });
    std::string err;
    for (size_t i = 0; i < wire.size(); i += step) {
      ASSERT_TRUE(split.Feed(std::string_view(wire).substr(i, step), &err)) << err;
    }
    ASSERT_EQ(events.size(), 3u) << step;
    EXPECT_EQ(events[0].name, "message_start");
    EXPECT_EQ(events[0].data, "{\"a\":1}");
    EXPECT_EQ(events[1].data, "line1\nline2");
    EXPECT_EQ(events[2].data, "[DONE]");
    EXPECT_EQ(raw_all, wire) << "raw bytes pass through unchanged";
  }
}

TEST(UsageTest, PrepareSetsACapAndAsksOpenAiStreamsForUsage) {
  auto body = nlohmann::json::parse(R"({"model":"gpt-4o-mini","stream":true,"messages":[]})");
  auto f = PrepareRequest(Provider::kOpenAi, "/v1/chat/completions", &body, 4096);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(f->stream);
  EXPECT_TRUE(f->injected_usage);
  EXPECT_EQ(f->max_output, 4096);
  EXPECT_EQ(body["max_completion_tokens"], 4096);
  EXPECT_EQ(body["stream_options"]["include_usage"], true);

  auto asked = nlohmann::json::parse(
      R"({"model":"m","stream":true,"max_tokens":50,"stream_options":{"include_usage":true}})");
  f = PrepareRequest(Provider::kOpenAi, "/v1/chat/completions", &asked, 4096);
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->injected_usage) << "the client asked itself: its usage chunk stays";
  EXPECT_EQ(f->max_output, 50);

  auto claude = nlohmann::json::parse(R"({"model":"claude-haiku-4-5","max_tokens":300})");
  f = PrepareRequest(Provider::kAnthropic, "/v1/messages", &claude, 4096);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->max_output, 300);

  auto bad = nlohmann::json::parse(R"({"messages":[]})");
  EXPECT_EQ(PrepareRequest(Provider::kOpenAi, "/v1/chat/completions", &bad, 10).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto neg = nlohmann::json::parse(R"({"model":"m","max_tokens":-1})");
  EXPECT_FALSE(PrepareRequest(Provider::kAnthropic, "/v1/messages", &neg, 10).ok());
}

TEST(UsageTest, FromWholeResponses) {
  auto oai = nlohmann::json::parse(R"({"usage":{"prompt_tokens":12,"completion_tokens":5}})");
  TokenUsage u = UsageFromResponse(Provider::kOpenAi, oai);
  EXPECT_TRUE(u.reported);
  EXPECT_EQ(u.input, 12);
  EXPECT_EQ(u.output, 5);
  auto resp = nlohmann::json::parse(R"({"usage":{"input_tokens":7,"output_tokens":3}})");
  EXPECT_EQ(UsageFromResponse(Provider::kOpenAi, resp).total(), 10);
  auto ant = nlohmann::json::parse(
      R"({"usage":{"input_tokens":9,"cache_read_input_tokens":100,"output_tokens":4}})");
  EXPECT_EQ(UsageFromResponse(Provider::kAnthropic, ant).input, 109);
  EXPECT_FALSE(UsageFromResponse(Provider::kOpenAi, nlohmann::json::object()).reported);
}

TEST(UsageTest, OpenAiStreamDropsOnlyTheInjectedUsageChunk) {
  StreamUsage su(Provider::kOpenAi, true);
  EXPECT_TRUE(su.Observe({"", R"({"choices":[{"delta":{"content":"hi"}}]})"}));
  EXPECT_FALSE(
      su.Observe({"", R"({"choices":[],"usage":{"prompt_tokens":8,"completion_tokens":2}})"}));
  EXPECT_TRUE(su.Observe({"", "[DONE]"}));
  EXPECT_TRUE(su.complete());
  EXPECT_EQ(su.usage().input, 8);
  EXPECT_EQ(su.usage().output, 2);
  StreamUsage own(Provider::kOpenAi, false);
  EXPECT_TRUE(
      own.Observe({"", R"({"choices":[],"usage":{"prompt_tokens":8,"completion_tokens":2}})"}));
}

TEST(UsageTest, AnthropicStreamUsage) {
  StreamUsage su(Provider::kAnthropic, false);
  su.Observe(
      {"message_start",
       R"({"type":"message_start","message":{"usage":{"input_tokens":25,"output_tokens":1}}})"});
  su.Observe({"content_block_delta", R"({"type":"content_block_delta","delta":{"text":"x"}})"});
  su.Observe({"message_delta", R"({"type":"message_delta","usage":{"output_tokens":15}})"});
  EXPECT_FALSE(su.complete());
  su.Observe({"message_stop", R"({"type":"message_stop"})"});
  EXPECT_TRUE(su.complete());
  EXPECT_EQ(su.usage().input, 25);
  EXPECT_EQ(su.usage().output, 15);
}

}  // namespace
}  // namespace clawos::proxy
