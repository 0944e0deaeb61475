// The real clawos-inference-proxy between the real clawos-identity and the
// stand-in upstream (test/upstream/fake_llm.py): streams byte for byte,
// a budget that 200 concurrent requests cannot overspend and that survives a
// restart, tokens per minute, each upstream fault, a client that hangs up
// mid-stream, auth refusals, bad bodies, the Prometheus metrics.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "clawos/proxy/v1/proxy_admin.grpc.pb.h"
#include "common/files.h"
#include "common/grpc_client.h"
#include "common/grpc_util.h"
#include "common/http/client.h"
#include "common/testing/eventually.h"
#include "common/testing/http_call.h"
#include "common/testing/raw_exchange.h"
#include "common/testing/subprocess.h"
#include "common/testing/temp_dir.h"
#include "inference-proxy/ledger.h"

namespace clawos {
namespace {

using http::ClientCall;
using http::ParseUrl;
using testing::Daemon;
using testing::RunCommand;

const std::string kBin = CLAWOS_BIN_DIR;
const std::string kSrc = CLAWOS_SOURCE_DIR;

using Answer = testing::HttpAnswer;

// The value of one Prometheus sample line that starts with `series`, or -1.
double Sample(const std::string& text, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, series + " "))
      return std::stod(std::string(line.substr(series.size() + 1)));
  }
  return -1;
}

Answer Send(int port, const std::string& method, const std::string& path, const std::string& body,
            std::vector<std::pair<std::string, std::string>> headers) {
  return testing::HttpCall(port, method, path, body, std::move(headers));
}

Answer Post(int port, const std::string& path, const std::string& body,
            std::vector<std::pair<std::string, std::string>> headers) {
  return Send(port, "POST", path, body, std::move(headers));
}

Answer Get(int port, const std::string& path) { return Send(port, "GET", path, "", {}); }

class ProxyDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    identity_ = std::make_unique<Daemon>(
        std::vector<std::string>{kBin + "/clawos-identity", "--state-dir", dir_.Sub("identity"),
                                 "--listen", "unix:" + dir_.Sub("id.sock"), "--metrics-listen", ""},
        dir_.Sub("identity.log"));
    ASSERT_TRUE(identity_->WaitForFile(dir_.Sub("id.sock"))) << identity_->Log();
    upstream_ = std::make_unique<Daemon>(
        std::vector<std::string>{"/usr/bin/python3", kSrc + "/test/upstream/fake_llm.py",
                                 "--port-file", dir_.Sub("up.port"), "--log", dir_.Sub("up.log")},
        dir_.Sub("upstream.log"));
    ASSERT_TRUE(upstream_->WaitForFile(dir_.Sub("up.port"))) << upstream_->Log();
    up_port_ = std::atoi(ReadFile(dir_.Sub("up.port")).value().c_str());
    for (int i = 0; i < 50 && token_.empty(); ++i) {
      token_ = Token("agents/p1");
      if (token_.empty()) absl::SleepFor(absl::Milliseconds(100));
    }
    ASSERT_FALSE(token_.empty());
  }
  void TearDown() override {
    proxy_.reset();
    upstream_.reset();
    identity_.reset();
  }
  std::string Token(const std::string& sub, const std::string& aud = "clawos-inference-proxy",
                    const std::string& ttl = "10m", const std::string& model = "") {
    std::vector<std::string> argv = {kBin + "/clawos", "token", "issue", "--subject", sub,
                                     "--audience",     aud,     "--ttl", ttl};
    if (!model.empty()) argv.insert(argv.end(), {"--model", model});
    auto r = RunCommand(argv, "", {{"CLAWOS_IDENTITY_ADDR", "unix:" + dir_.Sub("id.sock")}});
    return r.exit_code == 0 ? std::string(absl::StripTrailingAsciiWhitespace(r.out)) : "";
  }
  void StartProxy(std::vector<std::string> extra = {}) {
    proxy_.reset();
    // Port 0 everywhere: the bound ports are read from the "serving" log line.
    size_t log_from = ReadFile(dir_.Sub("proxy.log")).value_or("").size();
    std::vector<std::string> argv = {kBin + "/clawos-inference-proxy",
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--state-dir",
                                     dir_.Sub("proxy"),
                                     "--identity",
                                     "unix:" + dir_.Sub("id.sock"),
                                     "--openai-url",
                                     absl::StrCat("http://127.0.0.1:", up_port_),
                                     "--anthropic-url",
                                     absl::StrCat("http://127.0.0.1:", up_port_),
                                     "--refresh-interval",
                                     "1s",
                                     "--upstream-timeout",
                                     "3s",
                                     "--admin-listen",
                                     "unix:" + dir_.Sub("admin.sock"),
                                     "--metrics-listen",
                                     "127.0.0.1:0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    proxy_ = std::make_unique<Daemon>(
        argv, dir_.Sub("proxy.log"),
        std::map<std::string, std::string>{{"CLAWOS_OPENAI_API_KEY", "sk-openai-test"},
                                           {"CLAWOS_ANTHROPIC_API_KEY", "sk-ant-test"}});
    for (int i = 0; i < 200 && proxy_->Running(); ++i) {
      std::string log = ReadFile(dir_.Sub("proxy.log")).value_or("");
      for (absl::string_view line :
           absl::StrSplit(log.substr(std::min(log_from, log.size())), '\n')) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (!j.is_object() || j.value("msg", "") != "serving") continue;
        std::string listen = j.value("listen", "");
        port_ = std::atoi(listen.substr(listen.rfind(':') + 1).c_str());
        metrics_port_ = j.value("metrics_port", 0);
        return;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    FAIL() << "the proxy did not start:\n" << proxy_->Log();
  }
  Answer Call(const std::string& path, const std::string& body, const std::string& token = "") {
    return Post(port_, path, body,
                {{"authorization", "Bearer " + (token.empty() ? token_ : token)}});
  }
  // Ledger rows of the test's agent (not the start-up probe's), once there are `want`.
  std::vector<proxy::LedgerRow> Rows(size_t want, const std::string& subject = "agents/p1") {
    std::vector<proxy::LedgerRow> rows;
    auto ledger = proxy::Ledger::Open(dir_.Sub("proxy/usage.db"));
    if (!ledger.ok()) return rows;
    // Rows are committed (fsync'd) by the proxy's writer thread after the
    // answer went out; a loaded machine can take seconds.
    testing::Eventually(
        [&] {
          rows = (*ledger)->Recent(subject, absl::InfinitePast(), 100000).value();
          return rows.size() >= want;
        },
        absl::Seconds(30), absl::Milliseconds(20));
    return rows;
  }

  clawos::testing::TempDir dir_;
  std::unique_ptr<Daemon> identity_, upstream_, proxy_;
  int up_port_ = 0, port_ = 0, metrics_port_ = 0;
  std::string token_;
};

TEST_F(ProxyDaemonTest, StreamsAreByteForByteTheUpstreams) {
  StartProxy();
  const std::string chat = R"({"model":"gpt-4o-mini","stream":true,"max_tokens":20})";
  Answer direct = Post(up_port_, "/v1/chat/completions", chat, {});
  Answer proxied = Call("/v1/chat/completions", chat);
  ASSERT_EQ(proxied.status, 200) << proxied.body;
  EXPECT_EQ(proxied.body, direct.body) << "the injected usage chunk is removed, nothing else";
  EXPECT_FALSE(proxied.Header("x-request-id").empty());
  const std::string msg = R"({"model":"claude-haiku-4-5","stream":true,"max_tokens":20})";
  Answer adirect = Post(up_port_, "/v1/messages", msg, {});
  Answer aproxied = Post(port_, "/v1/messages", msg, {{"x-api-key", token_}});
  ASSERT_EQ(aproxied.status, 200) << aproxied.body;
  EXPECT_EQ(aproxied.body, adirect.body);
  // What the upstream saw: the provider's key, never the agent's token.
  std::string log = ReadFile(dir_.Sub("up.log")).value();
  EXPECT_NE(log.find("\"authorization\": \"Bearer sk-openai-test\""), std::string::npos) << log;
  EXPECT_NE(log.find("\"x-api-key\": \"sk-ant-test\""), std::string::npos);
  EXPECT_EQ(log.find(token_), std::string::npos);
  auto rows = Rows(2);
  ASSERT_GE(rows.size(), 2u);
  for (const auto& r : rows) {
    EXPECT_EQ(r.outcome, proxy::Outcome::kSuccess);
    EXPECT_GT(r.prompt_tokens, 0);
    EXPECT_EQ(r.completion_tokens, 7) << "usage read from the stream";
  }
}

TEST_F(ProxyDaemonTest, BudgetHoldsUnderConcurrencyAndAcrossRestart) {
  StartProxy({"--rpm", "0", "--budget-tokens", "600", "--bytes-per-token", "4"});
  const std::string body = R"({"model":"gpt-4o-mini","max_tokens":7,"messages":[]})";
  std::vector<std::future<int>> calls;
  for (int i = 0; i < 200; ++i) {
    calls.push_back(
        std::async(std::launch::async, [&] { return Call("/v1/chat/completions", body).status; }));
  }
  int ok = 0, limited = 0;
  for (auto& f : calls) {
    int s = f.get();
    ok += s == 200;
    limited += s == 429;
  }
  EXPECT_EQ(ok + limited, 200);
  EXPECT_GT(ok, 0);
  EXPECT_GT(limited, 0);
  auto rows = Rows(200);
  int64_t spent = 0;
  for (const auto& r : rows) spent += r.prompt_tokens + r.completion_tokens;
  EXPECT_LE(spent, 600) << "never past the budget, however many ran at once";
  EXPECT_EQ(static_cast<int>(rows.size()), 200) << "every request is in the ledger";

  StartProxy({"--rpm", "0", "--budget-tokens", "600", "--bytes-per-token", "4"});  // restart
  int more = 0;
  for (int i = 0; i < 100; ++i) more += Call("/v1/chat/completions", body).status == 200;
  int64_t after = 0;
  for (const auto& r : Rows(300)) after += r.prompt_tokens + r.completion_tokens;
  EXPECT_LE(after, 600) << "the budget remembered the spend before the restart (" << more
                        << " more admitted)";
}

TEST_F(ProxyDaemonTest, TokensPerMinuteAreSettledToWhatWasUsed) {
  // Each call reserves its prompt estimate + max_tokens (~20) and settles to
  // the upstream's usage (8): the minute admits what really fits in 100.
  StartProxy({"--rpm", "0", "--tpm", "100", "--bytes-per-token", "4"});
  const std::string body = R"({"model":"gpt-4o-mini","max_tokens":7,"messages":[]})";
  int ok = 0;
  Answer refused;
  for (int i = 0; i < 30; ++i) {
    Answer a = Call("/v1/chat/completions", body);
    if (a.status == 200) ++ok;
    if (a.status == 429) refused = a;
  }
  EXPECT_GT(ok, 100 / 20) << "settled to real usage, not left at the reservation";
  ASSERT_EQ(refused.status, 429);
  int retry = std::atoi(refused.Header("retry-after").c_str());
  EXPECT_GE(retry, 1);
  EXPECT_LE(retry, 60);
  EXPECT_NE(refused.body.find("tokens per minute"), std::string::npos) << refused.body;
  int64_t spent = 0;
  for (const auto& r : Rows(30)) spent += r.prompt_tokens + r.completion_tokens;
  EXPECT_LE(spent, 100);
  EXPECT_GT(spent, 60) << "the minute was used, not wasted on reservations";
}

TEST_F(ProxyDaemonTest, AClientHangingUpMidStreamCancelsTheUpstreamCall) {
  // The stream reserves 73 tokens (53 bytes + 20), the next call 43.
  StartProxy({"--tpm", "100"});
  auto c = http::ClientCall::Start(
      http::ParseUrl(absl::StrCat("http://127.0.0.1:", port_)).value(),
      {"POST",
       "/v1/chat/completions",
       {{"authorization", "Bearer " + token_}, {"content-type", "application/json"}},
       R"({"model":"slow-stream","stream":true,"max_tokens":20})"},
      absl::Seconds(10));
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ((*c)->head().status, 200);
  bool done = false;
  auto first = (*c)->Read(&done);
  ASSERT_TRUE(first.ok());
  c->reset();  // hang up after the first chunk; the whole stream takes 5 s
  auto rows = Rows(1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].outcome, proxy::Outcome::kClientCancelled) << rows[0].error;
  EXPECT_LT(rows[0].latency, absl::Seconds(4)) << "noticed at the next chunk, not the end";
  std::string log;
  for (int i = 0; i < 50; ++i) {
    log = ReadFile(dir_.Sub("up.log")).value();
    if (log.find("\"aborted\"") != std::string::npos) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_NE(log.find("\"aborted\""), std::string::npos) << "the upstream call was cut as well";
  // Cut before the usage chunk, the call's usage is unknown: it is charged at
  // its reservation (the provider may bill what it generated), so 73 + 43 does
  // not fit the minute's 100 tokens.
  Answer next = Call("/v1/chat/completions", R"({"model":"gpt-4o-mini","max_tokens":5})");
  EXPECT_EQ(next.status, 429) << next.body;
  EXPECT_NE(next.body.find("tokens per minute"), std::string::npos) << next.body;
}

TEST_F(ProxyDaemonTest, MetricsCountRequestsTokensAndOutcomes) {
  StartProxy({"--rpm", "2"});
  const std::string body = R"({"model":"gpt-4o-mini","max_tokens":7})";
  EXPECT_EQ(Call("/v1/chat/completions", body).status, 200);
  EXPECT_EQ(Call("/v1/chat/completions", body).status, 200);
  EXPECT_EQ(Call("/v1/chat/completions", body).status, 429);
  EXPECT_EQ(Call("/v1/chat/completions", body, "garbage").status, 401);
  ASSERT_EQ(Rows(3).size(), 3u);
  Answer m;
  for (int i = 0; i < 50; ++i) {  // rows are written just before the counters
    m = Get(metrics_port_, "/metrics");
    if (m.body.find("RATE_LIMITED") != std::string::npos &&
        m.body.find("UNAUTHENTICATED") != std::string::npos)
      break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(
      Sample(m.body,
             R"(clawos_proxy_requests_total{code="200",outcome="SUCCESS",provider="openai"})"),
      2)
      << m.body;
  EXPECT_EQ(
      Sample(m.body,
             R"(clawos_proxy_requests_total{code="429",outcome="RATE_LIMITED",provider="openai"})"),
      1);
  EXPECT_EQ(Sample(m.body, R"(clawos_proxy_tokens_total{direction="output",provider="openai"})"),
            14);
  EXPECT_EQ(Sample(m.body, "clawos_proxy_requests_in_flight"), 0);
  EXPECT_GE(Sample(m.body, R"(clawos_proxy_request_seconds_count{provider="openai"})"), 3);
}

TEST_F(ProxyDaemonTest, UpstreamFaultsGiveClearErrorsAndLedgerRows) {
  StartProxy();
  Answer e500 = Call("/v1/chat/completions", R"({"model":"fault-500"})");
  EXPECT_EQ(e500.status, 500);
  Answer bad = Call("/v1/chat/completions", R"({"model":"fault-malformed"})");
  EXPECT_EQ(bad.status, 502);
  EXPECT_NE(bad.body.find("malformed JSON"), std::string::npos) << bad.body;
  Answer cut = Call("/v1/chat/completions", R"({"model":"fault-cut","stream":true})");
  EXPECT_EQ(cut.status, 200) << "the head went out before the cut";
  EXPECT_NE(cut.body.find("hel"), std::string::npos) << "what came before the cut passed through";
  EXPECT_EQ(cut.body.find("[DONE]"), std::string::npos) << "the stream ended early";
  Answer slow = Call("/v1/chat/completions", R"({"model":"fault-timeout"})");
  EXPECT_EQ(slow.status, 504) << slow.body;
  auto rows = Rows(4);
  int upstream_errors = 0;
  for (const auto& r : rows) upstream_errors += r.outcome == proxy::Outcome::kUpstreamError;
  EXPECT_EQ(upstream_errors, 4);

  upstream_.reset();  // the upstream goes away entirely
  Answer down = Call("/v1/chat/completions", R"({"model":"gpt-4o"})");
  EXPECT_EQ(down.status, 502);
  EXPECT_NE(down.body.find("connecting to"), std::string::npos) << down.body;
}

TEST_F(ProxyDaemonTest, AuthAndBadBodies) {
  StartProxy({"--leeway", "0s"});
  EXPECT_EQ(Call("/v1/chat/completions", R"({"model":"gpt-4o"})",
                 Token("agents/p1", "clawos-controlplane"))
                .status,
            401)
      << "wrong audience";
  std::string brief = Token("agents/p1", "clawos-inference-proxy", "1s");
  absl::SleepFor(absl::Milliseconds(2100));
  Answer expired = Call("/v1/chat/completions", R"({"model":"gpt-4o"})", brief);
  EXPECT_EQ(expired.status, 401);
  EXPECT_NE(expired.body.find("expired"), std::string::npos) << expired.body;
  EXPECT_NE(expired.body.find("authentication_error"), std::string::npos) << "OpenAI's shape";
  Answer none = Post(port_, "/v1/messages", R"({"model":"claude-haiku-4-5"})", {});
  EXPECT_EQ(none.status, 401);
  EXPECT_NE(none.body.find("\"type\":\"error\""), std::string::npos) << "Anthropic's shape";
  std::string doomed = Token("agents/doomed");
  EXPECT_EQ(Call("/v1/chat/completions", R"({"model":"gpt-4o"})", doomed).status, 200);
  auto r = RunCommand({kBin + "/clawos", "token", "revoke", "--subject", "agents/doomed"}, "",
                      {{"CLAWOS_IDENTITY_ADDR", "unix:" + dir_.Sub("id.sock")}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The proxy refreshes revocations every second: within a few, the token is dead.
  int revoked_status = 0;
  testing::Eventually(
      [&] {
        revoked_status = Call("/v1/chat/completions", R"({"model":"gpt-4o"})", doomed).status;
        return revoked_status == 401;
      },
      absl::Seconds(15), absl::Milliseconds(250));
  EXPECT_EQ(revoked_status, 401) << "revoked";
  EXPECT_EQ(Call("/v1/chat/completions", "{nope").status, 400);
  // An oversized body is refused from its Content-Length, before it is read.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port_));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  std::string head = absl::StrCat("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n",
                                  "Content-Length: ", 9 << 20, "\r\n\r\n{\"model\":");
  ASSERT_GT(::send(fd, head.data(), head.size(), 0), 0);
  char buf[256] = {};
  ASSERT_GT(::recv(fd, buf, sizeof(buf) - 1, 0), 0);
  ::close(fd);
  EXPECT_EQ(std::string(buf).rfind("HTTP/1.1 413", 0), 0u) << buf;
  EXPECT_EQ(Call("/v1/nothing", "{}").status, 404);
}

using testing::RawExchange;

// Issue 16's reproductions: each once killed the proxy for every VM.
TEST_F(ProxyDaemonTest, HostileRequestsGetClearErrorsAndTheProxyServesOn) {
  StartProxy();
  const std::string ok_body = R"({"model":"gpt-4o-mini","max_tokens":7,"messages":[]})";
  // A valid agent's stream_options.include_usage of the wrong type (type_error.302).
  Answer usage1 = Call("/v1/chat/completions",
                       R"({"model":"gpt-4o","stream":true,"stream_options":{"include_usage":1},)"
                       R"("messages":[]})");
  EXPECT_EQ(usage1.status, 400) << usage1.body;
  EXPECT_NE(usage1.body.find("include_usage"), std::string::npos) << usage1.body;
  ASSERT_EQ(Call("/v1/chat/completions", ok_body).status, 200) << proxy_->Log();
  // Anyone on the host: invalid UTF-8 in the path, echoed in the 404 body (type_error.316).
  std::string raw =
      RawExchange(port_, "GET /\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  ASSERT_EQ(raw.rfind("HTTP/1.1 404", 0), 0u) << raw;
  auto err = nlohmann::json::parse(raw.substr(raw.find("\r\n\r\n") + 4), nullptr, false);
  EXPECT_TRUE(err.is_object()) << "the error body is valid JSON: " << raw;
  ASSERT_EQ(Call("/v1/chat/completions", ok_body).status, 200) << proxy_->Log();
  // Other wrong types anywhere in what the proxy reads.
  for (const char* body :
       {R"({"model":"gpt-4o","stream":"yes"})",
        R"({"model":"gpt-4o","stream_options":7,"stream":true})",
        R"({"model":"gpt-4o","max_tokens":1.5})", R"({"model":"gpt-4o","max_tokens":1e300})",
        R"({"model":"gpt-4o","max_tokens":18446744073709551615})", R"({"model":["gpt-4o"]})",
        R"([1,2,3])", R"("just a string")", R"({"model":"gpt-4o","n":0})",
        R"({"model":"gpt-4o","n":"2"})", R"({"model":"gpt-4o","best_of":1000})"}) {
    Answer a = Call("/v1/chat/completions", body);
    EXPECT_EQ(a.status, 400) << body << " -> " << a.body;
  }
  EXPECT_TRUE(proxy_->Running()) << proxy_->Log();
  EXPECT_EQ(Call("/v1/chat/completions", ok_body).status, 200);
  EXPECT_EQ(proxy_->Log().find("terminate called"), std::string::npos) << proxy_->Log();
}

TEST_F(ProxyDaemonTest, ReservationsAreATrueBoundThatCannotOverflow) {
  StartProxy({"--rpm", "0", "--budget-tokens", "1000", "--bytes-per-token", "4"});
  // One choice of 100 fits; 20 choices of 100 can never fit the budget: 400, not a 429 to retry.
  EXPECT_EQ(Call("/v1/chat/completions", R"({"model":"gpt-4o-mini","max_tokens":100})").status,
            200);
  Answer many = Call("/v1/chat/completions", R"({"model":"gpt-4o-mini","max_tokens":100,"n":20})");
  EXPECT_EQ(many.status, 400) << many.body;
  EXPECT_NE(many.body.find("output cap x choices"), std::string::npos)
      << "it says why: " << many.body;
  // A cap near INT64_MAX: refused, never wrapped into a small or negative reservation.
  Answer huge = Call("/v1/chat/completions",
                     R"({"model":"gpt-4o-mini","max_tokens":9223372036854775807,"n":128})");
  EXPECT_EQ(huge.status, 400) << huge.body;
  Answer huge2 =
      Call("/v1/chat/completions", R"({"model":"gpt-4o-mini","max_tokens":9223372036854775000})");
  EXPECT_EQ(huge2.status, 400) << huge2.body;
  // The budget still admits what fits.
  EXPECT_EQ(Call("/v1/chat/completions", R"({"model":"gpt-4o-mini","max_tokens":100})").status,
            200);
}

TEST_F(ProxyDaemonTest, TheVmComesFromTheTokenAndAnonymousCallersWriteNoRows) {
  StartProxy();
  Answer forged = Post(port_, "/v1/chat/completions", R"({"model":"gpt-4o-mini","max_tokens":7})",
                       {{"authorization", "Bearer " + token_}, {"x-clawos-vm", "someone-else"}});
  ASSERT_EQ(forged.status, 200) << forged.body;
  auto rows = Rows(1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].vm, "p1") << "from the token's subject agents/p1, not the header";
  // Unauthenticated and unrouted callers: counted, never a row.
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(Call("/v1/chat/completions", "{}", "garbage").status, 401);
    EXPECT_EQ(Get(port_, "/nowhere").status, 404);
  }
  EXPECT_EQ(Call("/v1/chat/completions", R"({"model":"gpt-4o-mini","max_tokens":7})").status, 200);
  ASSERT_EQ(Rows(2).size(), 2u);  // the second good call is committed, so the others would be too
  auto ledger = proxy::Ledger::Open(dir_.Sub("proxy/usage.db"));
  ASSERT_TRUE(ledger.ok());
  auto all = (*ledger)->Recent("", absl::InfinitePast(), 1000);
  ASSERT_TRUE(all.ok());
  for (const auto& r : *all) EXPECT_FALSE(r.subject.empty()) << r.request_id << " " << r.path;
  double unauth = -1;
  testing::Eventually(
      [&] {
        unauth = Sample(
            Get(metrics_port_, "/metrics").body,
            R"(clawos_proxy_requests_total{code="401",outcome="UNAUTHENTICATED",provider="openai"})");
        return unauth >= 20;
      },
      absl::Seconds(20), absl::Milliseconds(100));
  EXPECT_EQ(unauth, 20);
}

TEST_F(ProxyDaemonTest, AClientTricklingARequestIsCutOff) {
  StartProxy({"--request-timeout", "2s"});
  // The head arrives, then nothing for 4 s: 408 after 2 s, not a thread held for minutes.
  absl::Time start = absl::Now();
  std::string got = RawExchange(
      port_, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n{",
      absl::Seconds(4), "\"model\":\"gpt-4o\"}");
  EXPECT_EQ(got.rfind("HTTP/1.1 408", 0), 0u) << got;
  EXPECT_LT(absl::Now() - start, absl::Seconds(25));
  EXPECT_EQ(Call("/v1/chat/completions", R"({"model":"gpt-4o-mini","max_tokens":7})").status, 200);
}

TEST_F(ProxyDaemonTest, ModelRoutesPickTheProvider) {
  StartProxy({"--model-route", "llama=anthropic,gpt-x=anthropic"});
  Answer wrong = Call("/v1/chat/completions", R"({"model":"llama-3"})");
  EXPECT_EQ(wrong.status, 400);
  EXPECT_NE(wrong.body.find("served by anthropic"), std::string::npos) << wrong.body;
  EXPECT_EQ(Post(port_, "/v1/messages", R"({"model":"llama-3"})", {{"x-api-key", token_}}).status,
            200);
  EXPECT_EQ(Call("/v1/chat/completions", R"({"model":"gpt-x1"})").status, 400)
      << "a later rule overrides the built-in gpt prefix";
  EXPECT_EQ(Call("/v1/chat/completions", R"({"model":"gpt-4o"})").status, 200);

  auto bad = RunCommand({kBin + "/clawos-inference-proxy", "--state-dir", dir_.Sub("p2"),
                         "--model-route", "llama=vertex"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("unknown provider \"vertex\""), std::string::npos) << bad.err;
}

TEST_F(ProxyDaemonTest, AdminLimitsApplyAtOnceAndSurviveRestart) {
  namespace ppb = ::clawos::proxy::v1;
  StartProxy();
  auto admin = [&] {
    return ppb::ProxyAdminService::NewStub(
        MakeChannel("unix:" + dir_.Sub("admin.sock"), {}).value());
  };
  ppb::UpdateLimitRequest up;
  up.mutable_limit()->set_name("limits/agents/p1");
  up.mutable_limit()->set_requests_per_minute(2);
  up.mutable_update_mask()->add_paths("requests_per_minute");
  ppb::Limit got;
  auto ctx = MakeClientContext();
  grpc::Status s = admin()->UpdateLimit(ctx.get(), up, &got);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << "no limit yet, allow_missing unset";
  up.set_allow_missing(true);
  ctx = MakeClientContext();
  ASSERT_TRUE(admin()->UpdateLimit(ctx.get(), up, &got).ok());
  EXPECT_EQ(got.requests_per_minute(), 2);
  const std::string body = R"({"model":"gpt-4o-mini","max_tokens":7})";
  EXPECT_EQ(Call("/v1/chat/completions", body).status, 200);
  EXPECT_EQ(Call("/v1/chat/completions", body).status, 200);
  EXPECT_EQ(Call("/v1/chat/completions", body).status, 429) << "the override applies at once";
  ASSERT_EQ(Rows(3).size(), 3u) << "all three are in the ledger";

  StartProxy();  // restart: the override is persisted
  ppb::GetLimitRequest get;
  get.set_name("limits/agents/p1");
  ctx = MakeClientContext();
  ASSERT_TRUE(admin()->GetLimit(ctx.get(), get, &got).ok());
  EXPECT_EQ(got.requests_per_minute(), 2);
  EXPECT_EQ(got.usage().requests_last_minute(), 2)
      << "the last minute's admitted requests count across the restart (preloaded from the ledger)";

  ppb::QueryUsageRequest q;
  q.set_subject("agents/p1");
  *q.mutable_start_time() = ToProtoTime(absl::Now() - absl::Hours(1));
  ppb::QueryUsageResponse usage;
  ctx = MakeClientContext();
  ASSERT_TRUE(admin()->QueryUsage(ctx.get(), q, &usage).ok());
  EXPECT_EQ(usage.total().request_count(), 3);
  EXPECT_EQ(usage.total().rejected_count(), 1);
  EXPECT_GT(usage.total().completion_tokens(), 0);

  ppb::ListAuditRecordsRequest lr;
  lr.set_filter("outcome=RATE_LIMITED");
  ppb::ListAuditRecordsResponse records;
  ctx = MakeClientContext();
  ASSERT_TRUE(admin()->ListAuditRecords(ctx.get(), lr, &records).ok());
  ASSERT_EQ(records.audit_records_size(), 1);
  EXPECT_EQ(records.audit_records(0).http_status(), 429);

  ppb::DeleteLimitRequest del;
  del.set_name("limits/default");
  google::protobuf::Empty empty;
  ctx = MakeClientContext();
  EXPECT_EQ(admin()->DeleteLimit(ctx.get(), del, &empty).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  del.set_name("limits/agents/p1");
  ctx = MakeClientContext();
  EXPECT_TRUE(admin()->DeleteLimit(ctx.get(), del, &empty).ok());
  ctx = MakeClientContext();
  EXPECT_EQ(admin()->GetLimit(ctx.get(), get, &got).error_code(), grpc::StatusCode::NOT_FOUND);
}

// A token bound to a model (a VM started with --model) gets that model and
// a 403 in the provider's own error shape for any other, until the agent's
// limits allow it.
TEST_F(ProxyDaemonTest, ATokensModelIsTheOnlyOneServedUnlessTheLimitsAllowMore) {
  StartProxy();
  const std::string bound = Token("agents/p1", "clawos-inference-proxy", "10m", "gpt-4o-mini");
  ASSERT_FALSE(bound.empty());
  EXPECT_EQ(Call("/v1/chat/completions", R"({"model":"gpt-4o-mini","max_tokens":5})", bound).status,
            200);
  Answer other = Call("/v1/chat/completions", R"({"model":"gpt-4o","max_tokens":5})", bound);
  EXPECT_EQ(other.status, 403);
  auto oj = nlohmann::json::parse(other.body, nullptr, false);
  ASSERT_TRUE(oj.is_object()) << other.body;
  EXPECT_EQ(oj["error"]["type"], "permission_error") << other.body;
  EXPECT_NE(oj["error"]["message"].get<std::string>().find("runs gpt-4o-mini"), std::string::npos)
      << other.body;
  Answer claude = Post(port_, "/v1/messages", R"({"model":"claude-haiku-4-5","max_tokens":5})",
                       {{"x-api-key", bound}});
  EXPECT_EQ(claude.status, 403);
  auto cj = nlohmann::json::parse(claude.body, nullptr, false);
  ASSERT_TRUE(cj.is_object()) << claude.body;
  EXPECT_EQ(cj["type"], "error");
  EXPECT_EQ(cj["error"]["type"], "permission_error") << claude.body;
  auto rows = Rows(3);
  ASSERT_GE(rows.size(), 3u);
  EXPECT_EQ(proxy::OutcomeName(rows[0].outcome), std::string("FORBIDDEN"));
  // An unbound token is not restricted.
  EXPECT_EQ(Call("/v1/chat/completions", R"({"model":"gpt-4o","max_tokens":5})").status, 200);

  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), kBin + "/clawos");
    return RunCommand(args, "", {{"CLAWOS_PROXY_ADMIN_ADDR", "unix:" + dir_.Sub("admin.sock")}});
  };
  auto allow = cli({"proxy", "limits", "set", "agents/p1", "--allow-model", "gpt-4o"});
  ASSERT_EQ(allow.exit_code, 0) << allow.err;
  EXPECT_NE(allow.out.find("also allowed: gpt-4o"), std::string::npos) << allow.out;
  EXPECT_EQ(Call("/v1/chat/completions", R"({"model":"gpt-4o","max_tokens":5})", bound).status,
            200);
  EXPECT_EQ(Call("/v1/chat/completions", R"({"model":"gpt-4.1","max_tokens":5})", bound).status,
            403);
  StartProxy();  // the allowance survives a restart
  EXPECT_EQ(Call("/v1/chat/completions", R"({"model":"gpt-4o","max_tokens":5})", bound).status,
            200);
  ASSERT_EQ(cli({"proxy", "limits", "set", "agents/p1", "--only-vm-model"}).exit_code, 0);
  EXPECT_EQ(Call("/v1/chat/completions", R"({"model":"gpt-4o","max_tokens":5})", bound).status,
            403);
  // The default may allow any model; an agent that was told "only its own"
  // keeps to it, one without a list of its own inherits the default's.
  ASSERT_EQ(cli({"proxy", "limits", "set", "default", "--allow-model", "*"}).exit_code, 0);
  EXPECT_EQ(Call("/v1/chat/completions", R"({"model":"gpt-4o","max_tokens":5})", bound).status,
            403);
  const std::string p2 = Token("agents/p2", "clawos-inference-proxy", "10m", "gpt-4o-mini");
  EXPECT_EQ(Call("/v1/chat/completions", R"({"model":"gpt-4o","max_tokens":5})", p2).status, 200);
}

TEST_F(ProxyDaemonTest, ClawosProxyCommands) {
  StartProxy();
  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), kBin + "/clawos");
    return RunCommand(args, "", {{"CLAWOS_PROXY_ADMIN_ADDR", "unix:" + dir_.Sub("admin.sock")}});
  };
  auto set = cli({"proxy", "limits", "set", "agents/p1", "--rpm", "1", "--budget-tokens", "500",
                  "--budget-window", "1h"});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  EXPECT_NE(set.out.find("agents/p1"), std::string::npos) << set.out;
  EXPECT_EQ(Call("/v1/chat/completions", R"({"model":"gpt-4o-mini","max_tokens":5})").status, 200);
  EXPECT_EQ(Call("/v1/chat/completions", R"({"model":"gpt-4o-mini","max_tokens":5})").status, 429);
  ASSERT_EQ(Rows(2).size(), 2u);
  auto usage = cli({"proxy", "usage", "--subject", "agents/p1", "--since", "1h"});
  ASSERT_EQ(usage.exit_code, 0) << usage.err;
  EXPECT_NE(usage.out.find("2 requests (1 refused by limits"), std::string::npos) << usage.out;
  auto audit = cli({"proxy", "audit", "--filter", "outcome=RATE_LIMITED"});
  ASSERT_EQ(audit.exit_code, 0) << audit.err;
  EXPECT_NE(audit.out.find("RATE_LIMITED"), std::string::npos) << audit.out;
  auto list = cli({"-o", "json", "proxy", "limits", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  auto j = nlohmann::json::parse(list.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << list.out;
  EXPECT_EQ(j["limits"][0]["name"], "limits/default");
  EXPECT_EQ(j["limits"][1]["budget_tokens"], "500") << "int64 is a JSON string in proto3 JSON";
  auto bad = cli({"proxy", "limits", "set", "agents/p1"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("give at least one of"), std::string::npos) << bad.err;
  EXPECT_EQ(cli({"proxy", "limits", "delete", "agents/p1"}).exit_code, 0);
  auto gone = cli({"proxy", "limits", "delete", "agents/p1"});
  EXPECT_NE(gone.err.find("NOT_FOUND"), std::string::npos) << gone.err;
}

}  // namespace
}  // namespace clawos
