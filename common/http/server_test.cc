#include "common/http/server.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/tcp_socket.h"
#include "common/testing/raw_exchange.h"

namespace clawos::http {
namespace {

// Throws the way a handler bug would: before answering, or mid-stream.
class Throwing : public RequestHandler {
 public:
  void Handle(const Request& r, ResponseSink& sink) override {
    if (r.target == "/throw") throw std::runtime_error("a handler bug");
    if (r.target == "/json") (void)nlohmann::json::parse("{\"a\":1}").value("a", false);
    if (r.target == "/stream-then-throw") {
      sink.Head(200, {{"content-type", "text/plain"}}, true);
      sink.Body("partial");
      throw std::logic_error("mid-stream");
    }
    sink.Head(200, {{"content-type", "text/plain"}}, false);
    sink.Body("fine");
    sink.End();
  }
};

using testing::RawExchange;

// Streams a chunk every 20 ms until the client goes away.
class Ticker : public RequestHandler {
 public:
  void Handle(const Request&, ResponseSink& sink) override {
    if (!sink.Head(200, {{"content-type", "text/plain"}}, true)) return;
    while (sink.Body("tick\n")) absl::SleepFor(absl::Milliseconds(20));
  }
};

// A raw connection that sent a GET; Read() returns what arrived within 5 s.
struct RawClient {
  explicit RawClient(int port) {
    fd = ConnectTcp("127.0.0.1", port, absl::Seconds(5)).value_or(-1);
    std::string req = "GET /t HTTP/1.1\r\nHost: x\r\n\r\n";
    if (fd >= 0) (void)!::write(fd, req.data(), req.size());
  }
  ~RawClient() {
    if (fd >= 0) ::close(fd);
  }
  std::string Read() {
    char buf[4096];
    pollfd p{fd, POLLIN, 0};
    if (fd < 0 || ::poll(&p, 1, 5000) != 1) return "";
    ssize_t n = ::read(fd, buf, sizeof buf);
    return n > 0 ? std::string(buf, n) : "";
  }
  // Reads until `needle` has come (true) or nothing more does within 5 s.
  bool ReadUntil(const std::string& needle) {
    std::string all, piece;
    while (all.find(needle) == std::string::npos && !(piece = Read()).empty()) all += piece;
    return all.find(needle) != std::string::npos;
  }
  std::string ReadAll() {
    std::string all, piece;
    while (!(piece = Read()).empty()) all += piece;
    return all;
  }
  int fd = -1;
};

std::string Get(int port, const std::string& path) {
  return RawExchange(
      port, absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
}

TEST(ServerTest, AnExceptionInAHandlerIsA500AndTheServerGoesOn) {
  Throwing h;
  auto server = Server::Start({}, h).value();
  std::string r = Get(server->port(), "/throw");
  EXPECT_EQ(r.rfind("HTTP/1.1 500", 0), 0u) << r;
  EXPECT_NE(r.find("internal error"), std::string::npos) << r;
  r = Get(server->port(), "/json");  // nlohmann's type_error.302
  EXPECT_EQ(r.rfind("HTTP/1.1 500", 0), 0u) << r;
  r = Get(server->port(), "/stream-then-throw");
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << "the head had gone out: " << r;
  EXPECT_EQ(r.find("0\r\n\r\n"), std::string::npos) << "no clean end: the client sees a cut " << r;
  for (int i = 0; i < 3; ++i) {
    r = Get(server->port(), "/ok");
    EXPECT_NE(r.find("fine"), std::string::npos) << r;
  }
}

TEST(ServerTest, ARequestMustArriveWithinItsDeadline) {
  Throwing h;
  ServerOptions o;
  o.request_timeout = absl::Seconds(1);
  auto server = Server::Start(o, h).value();
  // One byte, a pause past the deadline, the rest: 408, connection closed.
  absl::Time start = absl::Now();
  std::string r =
      RawExchange(server->port(), "G", absl::Seconds(3), "ET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 408", 0), 0u) << r;
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
  // A whole request sent at once is unaffected.
  EXPECT_NE(Get(server->port(), "/ok").find("fine"), std::string::npos);
}

TEST(ServerTest, AnIdleKeptAliveConnectionIsClosed) {
  Throwing h;
  ServerOptions o;
  o.idle_timeout = absl::Seconds(1);
  auto server = Server::Start(o, h).value();
  absl::Time start = absl::Now();
  // No request at all: closed after the idle timeout, without an answer.
  std::string r = RawExchange(server->port(), "");
  EXPECT_EQ(r, "");
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
}

// At the connection cap a new client gets a quick 503 with a JSON body, and
// the streams already being served go on; once one ends, a new client is served.
TEST(ServerTest, AtTheConnectionCapNewClientsGet503AndStreamsGoOn) {
  Ticker h;
  ServerOptions o;
  o.max_connections = 3;
  auto server = Server::Start(o, h).value();
  std::vector<std::unique_ptr<RawClient>> streams;
  for (int i = 0; i < 3; ++i) {
    streams.push_back(std::make_unique<RawClient>(server->port()));
    ASSERT_TRUE(streams.back()->ReadUntil("tick")) << "stream " << i;
  }
  for (int i = 0; i < 3; ++i) {
    absl::Time start = absl::Now();
    RawClient extra(server->port());
    std::string r = extra.ReadAll();
    EXPECT_EQ(r.rfind("HTTP/1.1 503", 0), 0u) << r;
    EXPECT_NE(r.find("connection limit"), std::string::npos) << r;
    EXPECT_TRUE(nlohmann::json::accept(r.substr(r.find("\r\n\r\n") + 4))) << r;
    EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  }
  for (auto& s : streams) {
    EXPECT_TRUE(s->ReadUntil("tick")) << "an established stream starved";
  }
  streams.pop_back();  // one client goes: its slot comes back
  bool served = false;
  for (int i = 0; i < 100 && !served; ++i) {
    RawClient next(server->port());
    served = next.Read().rfind("HTTP/1.1 200", 0) == 0;
    if (!served) absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(served) << "the freed slot was never reused";
}

}  // namespace
}  // namespace clawos::http
