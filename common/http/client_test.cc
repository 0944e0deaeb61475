#include "common/http/client.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/http/server.h"
#include "common/testing/http_upstream.h"

namespace clawos::http {
namespace {

std::string ReadAll(ClientCall& c, int* pieces = nullptr) {
  std::string all;
  bool done = false;
  while (!done) {
    auto part = c.Read(&done);
    EXPECT_TRUE(part.ok()) << part.status();
    if (!part.ok()) break;
    if (pieces && !part->empty()) ++*pieces;
    all += *part;
  }
  return all;
}

TEST(UpstreamTest, ParsesUrls) {
  auto u = ParseUrl("https://api.openai.com");
  ASSERT_TRUE(u.ok());
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->port, "443");
  u = ParseUrl("http://127.0.0.1:8089/base/");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->prefix, "/base");
  EXPECT_FALSE(ParseUrl("ftp://x").ok());
  EXPECT_FALSE(ParseUrl("http://:80").ok());
}

TEST(UpstreamTest, WholeAndStreamedBodies) {
  clawos::testing::HttpUpstream whole(
      {200, {{"Content-Type", "application/json"}}, {"{\"ok\":1}"}});
  auto u = ParseUrl(whole.url()).value();
  auto c = ClientCall::Start(u, {"POST", "/v1/x", {{"authorization", "Bearer k"}}, "{}"},
                             absl::Seconds(5));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->head().status, 200);
  EXPECT_EQ(ReadAll(**c), "{\"ok\":1}");
  auto reqs = whole.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].head.Get("authorization"), "Bearer k");
  EXPECT_EQ(reqs[0].body, "{}");

  clawos::testing::HttpUpstream sse({200,
                                     {{"Content-Type", "text/event-stream"}},
                                     {"data: a\n\n", "data: b\n\n", "data: [DONE]\n\n"}});
  c = ClientCall::Start(ParseUrl(sse.url()).value(), {"POST", "/s", {}, "{}"}, absl::Seconds(5));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE((*c)->head().chunked_or_streamed);
  int pieces = 0;
  EXPECT_EQ(ReadAll(**c, &pieces), "data: a\n\ndata: b\n\ndata: [DONE]\n\n");
  EXPECT_GE(pieces, 2) << "pieces arrive as they are sent, not at the end";
}

TEST(UpstreamTest, FailuresAreClear) {
  auto refused = ClientCall::Start(ParseUrl("http://127.0.0.1:1").value(), {"GET", "/", {}, ""},
                                   absl::Seconds(5));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("connecting to http://127.0.0.1:1"), std::string::npos)
      << refused.status();
  clawos::testing::HttpUpstream plain({200, {}, {"x"}});
  auto tls =
      ClientCall::Start(ParseUrl("https://127.0.0.1:" + std::to_string(plain.port())).value(),
                        {"GET", "/", {}, ""}, absl::Seconds(1));
  EXPECT_FALSE(tls.ok());
  EXPECT_NE(tls.status().message().find("TLS with"), std::string::npos) << tls.status();
}

// An upstream answering `answer` to each connection's first request, then closing.
class RawUpstream {
 public:
  explicit RawUpstream(std::string answer) : answer_(std::move(answer)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), len), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      for (int c; (c = ::accept(fd_, nullptr, nullptr)) >= 0; ::close(c)) {
        char buf[4096];
        if (::recv(c, buf, sizeof buf, 0) > 0) {
          (void)!::send(c, answer_.data(), answer_.size(), MSG_NOSIGNAL);
        }
      }
    });
  }
  ~RawUpstream() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_); }

 private:
  std::string answer_;
  int fd_;
  int port_ = 0;
  std::thread thread_;
};

// Found by proxy_fuzz: "HTTP/1.1 062 OK" went on to the proxy's client as
// status 62. Only final statuses (200-599) are answers.
TEST(UpstreamTest, AnAnswerWithoutAFinalStatusIsAnError) {
  for (const char* status : {"062", "000", "100", "199"}) {
    RawUpstream up(absl::StrCat("HTTP/1.1 ", status, " OK\r\ncontent-length: 2\r\n\r\n{}"));
    auto call =
        ClientCall::Start(ParseUrl(up.url()).value(), {"GET", "/", {}, ""}, absl::Seconds(5));
    ASSERT_FALSE(call.ok()) << status;
    EXPECT_EQ(call.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_NE(call.status().message().find("not a final HTTP status"), std::string::npos)
        << call.status();
  }
  RawUpstream fine("HTTP/1.1 599 Odd\r\ncontent-length: 2\r\n\r\n{}");
  auto call =
      ClientCall::Start(ParseUrl(fine.url()).value(), {"GET", "/", {}, ""}, absl::Seconds(5));
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ((*call)->head().status, 599);
}

// A keep-alive upstream on the proxy's own listener.
class Counter : public http::RequestHandler {
 public:
  void Handle(const http::Request&, http::ResponseSink& sink) override {
    sink.Head(200, {{"content-type", "application/json"}}, false);
    sink.Body(absl::StrCat("{\"n\":", ++n, "}"));
    sink.End();
  }
  std::atomic<int> n{0};
};

TEST(UpstreamTest, PooledConnectionsAreReusedAndStaleOnesReplaced) {
  Counter counter;
  http::ServerOptions o;
  o.port = 0;
  o.io_timeout = absl::Seconds(2);  // it closes connections idle that long
  auto server = http::Server::Start(o, counter).value();
  auto pool = std::make_shared<ClientPool>(
      ParseUrl(absl::StrCat("http://127.0.0.1:", server->port())).value());
  auto call = [&](bool read_all) {
    auto c = ClientCall::Start(pool, {"POST", "/x", {}, "{}"}, absl::Seconds(5));
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return std::string();
    EXPECT_EQ((*c)->head().status, 200);
    return read_all ? ReadAll(**c) : std::string();
  };
  EXPECT_EQ(call(true), "{\"n\":1}");
  EXPECT_EQ(call(true), "{\"n\":2}");
  EXPECT_EQ(call(true), "{\"n\":3}");
  EXPECT_EQ(pool->connects(), 1) << "one connection carried all three";
  EXPECT_EQ(pool->idle(), 1u);

  call(false);  // an answer left unread: its connection is not reused
  EXPECT_EQ(pool->idle(), 0u);
  EXPECT_EQ(call(true), "{\"n\":5}");
  EXPECT_EQ(pool->connects(), 2);

  absl::SleepFor(absl::Seconds(3));  // the server has closed the idle one
  EXPECT_EQ(call(true), "{\"n\":6}");
  EXPECT_EQ(pool->connects(), 3) << "the closed connection was noticed, not used";

  // Answers with Connection: close are never pooled.
  clawos::testing::HttpUpstream closing({200, {{"Content-Type", "application/json"}}, {"{}"}});
  auto once = std::make_shared<ClientPool>(ParseUrl(closing.url()).value());
  for (int i = 0; i < 2; ++i) {
    auto c = ClientCall::Start(once, {"POST", "/x", {}, "{}"}, absl::Seconds(5));
    ASSERT_TRUE(c.ok()) << c.status();
    ReadAll(**c);
  }
  EXPECT_EQ(once->connects(), 2);
  EXPECT_EQ(once->idle(), 0u);
}

}  // namespace
}  // namespace clawos::http
