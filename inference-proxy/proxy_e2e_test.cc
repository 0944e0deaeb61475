// The data path end to end in one process: a real HTTP listener, the
// handler, the real identity core issuing the agents' tokens, the limiter,
// the SQLite ledger and the audit log, in front of a local stand-in upstream.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/files.h"
#include "common/http/server.h"
#include "common/testing/eventually.h"
#include "common/testing/http_upstream.h"
#include "common/testing/temp_dir.h"
#include "identity/testing/key_source.h"
#include "inference-proxy/handler.h"

namespace clawos::proxy {
namespace {

using clawos::testing::CannedResponse;
using clawos::testing::HttpUpstream;

class ProxyE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    identity::IdentityConfig c;
    c.state_dir = dir_.Sub("identity");
    c.master_key.hex = std::string(64, 'b');
    manager_ = identity::IdentityManager::Open(c, RealClock::Get()).value();
    token_ = Issue("agents/a1");
    auth_ = std::make_unique<identity::RemoteVerifier>(
        std::make_unique<clawos::identity::testing::ManagerSource>(*manager_),
        identity::VerifierConfig{"clawos-identity"}, "clawos-inference-proxy", RealClock::Get());
    ASSERT_TRUE(auth_->Refresh().ok());
    ledger_ = Ledger::Open(dir_.Sub("usage.db")).value();
    audit_ = AuditLog::Open(dir_.Sub("audit.jsonl")).value();
    writer_ = std::make_unique<LedgerWriter>(*ledger_, audit_.get());
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }
  std::string Issue(const std::string& sub) {
    identity::IssueRequest r{sub, "clawos-inference-proxy", absl::Minutes(10)};
    return manager_->Issue(r).value().token;
  }
  // Starts the proxy in front of `upstream` with `limits`.
  void StartProxy(const std::string& upstream, LimitValues limits = {0, 0, 0, absl::Hours(24)}) {
    limiter_ = std::make_unique<Limiter>(RealClock::Get(), limits);
    HandlerConfig hc;
    hc.providers[Provider::kOpenAi] = {http::ParseUrl(upstream).value(), "sk-provider-key"};
    hc.providers[Provider::kAnthropic] = {http::ParseUrl(upstream).value(), "sk-ant-key"};
    hc.default_max_output = 100;
    handler_ = std::make_unique<ProxyHandler>(hc, *auth_, *limiter_, *writer_, RealClock::Get());
    http::ServerOptions o;
    o.port = 0;
    server_ = http::Server::Start(o, *handler_).value();
  }
  struct Answer {
    int status = 0;
    std::string body;
    http::ClientHead head;
    std::string Header(const std::string& n) const {
      for (const auto& [k, v] : head.headers)
        if (http::EqualsIgnoreCase(k, n)) return v;
      return "";
    }
  };
  Answer Call(const std::string& path, const std::string& body, const std::string& token,
              std::vector<std::pair<std::string, std::string>> headers = {}) {
    if (!token.empty()) headers.emplace_back("authorization", "Bearer " + token);
    headers.emplace_back("content-type", "application/json");
    auto c = http::ClientCall::Start(
        http::ParseUrl("http://127.0.0.1:" + std::to_string(server_->port())).value(),
        {"POST", path, headers, body}, absl::Seconds(20));
    Answer a;
    if (!c.ok()) {
      a.body = c.status().ToString();
      return a;
    }
    a.status = (*c)->head().status;
    a.head = (*c)->head();
    a.body = (*c)->ReadAll();
    return a;
  }

  // The ledger row is written just after the answer went out: wait for it.
  std::vector<LedgerRow> Rows(const std::string& subject, size_t want) {
    std::vector<LedgerRow> rows;
    clawos::testing::Eventually(
        [&] {
          rows = ledger_->Recent(subject, absl::InfinitePast(), 100).value();
          return rows.size() >= want;
        },
        absl::Seconds(30), absl::Milliseconds(10));
    return rows;
  }

  clawos::testing::TempDir dir_;
  std::unique_ptr<identity::IdentityManager> manager_;
  std::string token_;
  std::unique_ptr<identity::RemoteVerifier> auth_;
  std::unique_ptr<Ledger> ledger_;
  std::unique_ptr<LedgerWriter> writer_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<Limiter> limiter_;
  std::unique_ptr<ProxyHandler> handler_;
  std::unique_ptr<http::Server> server_;
};

TEST_F(ProxyE2eTest, AnswersWithTheProvidersKeyAndAccountsTheTokens) {
  const std::string answer =
      R"({"id":"c1","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":11,"completion_tokens":4}})";
  HttpUpstream up({200, {{"Content-Type", "application/json"}}, {answer}});
  StartProxy(up.url());
  Answer a = Call("/v1/chat/completions", R"({"model":"gpt-4o-mini","messages":[]})", token_,
                  {{"x-request-id", "req-abc-1"}});
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body, answer);
  EXPECT_EQ(a.Header("x-request-id"), "req-abc-1");
  auto seen = up.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].head.Get("authorization"), "Bearer sk-provider-key")
      << "the agent's token never reaches the provider";
  EXPECT_EQ(nlohmann::json::parse(seen[0].body)["max_completion_tokens"], 100)
      << "an output cap is set so the reservation bounds the spend";
  auto rows = Rows("agents/a1", 1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].request_id, "req-abc-1");
  EXPECT_EQ(rows[0].prompt_tokens, 11);
  EXPECT_EQ(rows[0].completion_tokens, 4);
  EXPECT_EQ(rows[0].outcome, Outcome::kSuccess);
  EXPECT_EQ(limiter_->Current("agents/a1").tokens_last_minute, 15) << "settled to real usage";
  EXPECT_NE(ReadFile(dir_.Sub("audit.jsonl")).value_or("").find("\"request_id\":\"req-abc-1\""),
            std::string::npos);
}

TEST_F(ProxyE2eTest, StreamsPassThroughWithoutTheInjectedUsageChunk) {
  std::vector<std::string> events = {
      "data: {\"choices\":[{\"delta\":{\"content\":\"he\"}}]}\n\n",
      "data: {\"choices\":[{\"delta\":{\"content\":\"llo\"}}]}\n\n",
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2}}\n\n",
      "data: [DONE]\n\n"};
  HttpUpstream up({200, {{"Content-Type", "text/event-stream"}}, events});
  StartProxy(up.url());
  Answer a = Call("/v1/chat/completions", R"({"model":"gpt-4o-mini","stream":true})", token_);
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, events[0] + events[1] + events[3]) << "byte for byte, minus the usage chunk";
  EXPECT_EQ(nlohmann::json::parse(up.requests()[0].body)["stream_options"]["include_usage"], true);
  auto rows = Rows("agents/a1", 1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_TRUE(rows[0].streamed);
  EXPECT_EQ(rows[0].prompt_tokens, 9);
  EXPECT_EQ(rows[0].completion_tokens, 2);
}

TEST_F(ProxyE2eTest, RefusalsInTheProvidersShape) {
  HttpUpstream up({200, {{"Content-Type", "application/json"}}, {"{\"usage\":{}}"}});
  StartProxy(up.url(), {1, 0, 0, absl::Hours(24)});
  Answer none = Call("/v1/chat/completions", R"({"model":"gpt-4o"})", "");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(nlohmann::json::parse(none.body)["error"]["type"], "authentication_error");
  Answer claude =
      Call("/v1/messages", R"({"model":"claude-haiku-4-5","max_tokens":10})", "forged.token.value");
  EXPECT_EQ(claude.status, 401);
  EXPECT_EQ(nlohmann::json::parse(claude.body)["type"], "error") << "Anthropic's error shape";
  Answer first = Call("/v1/chat/completions", R"({"model":"gpt-4o"})", token_);
  EXPECT_EQ(first.status, 200) << first.body;
  Answer second = Call("/v1/chat/completions", R"({"model":"gpt-4o"})", token_);
  EXPECT_EQ(second.status, 429);
  EXPECT_FALSE(second.Header("retry-after").empty());
  EXPECT_EQ(nlohmann::json::parse(second.body)["error"]["type"], "rate_limit_error");
  Answer bad = Call("/v1/chat/completions", "{not json", token_);
  EXPECT_EQ(bad.status, 400) << "parsed before any limit is spent: " << bad.body;
  EXPECT_EQ(nlohmann::json::parse(bad.body)["error"]["type"], "invalid_request_error");
}

TEST_F(ProxyE2eTest, UpstreamDownAndHeaderInjection) {
  StartProxy("http://127.0.0.1:1");
  Answer a = Call("/v1/chat/completions", R"({"model":"gpt-4o"})", token_);
  EXPECT_EQ(a.status, 502) << a.body;
  auto rows = Rows("agents/a1", 1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].outcome, Outcome::kUpstreamError);
  EXPECT_EQ(limiter_->Current("agents/a1").tokens_last_minute, 0) << "the reservation is released";

  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(server_->port()));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  std::string raw =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Test: a\rInjected: b\r\n"
      "Content-Length: 2\r\n\r\n{}";
  ASSERT_EQ(::send(fd, raw.data(), raw.size(), 0), static_cast<ssize_t>(raw.size()));
  char buf[512] = {};
  ssize_t n = ::recv(fd, buf, sizeof(buf) - 1, 0);
  ::close(fd);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf).rfind("HTTP/1.1 400", 0), 0u) << buf;
}

}  // namespace
}  // namespace clawos::proxy
