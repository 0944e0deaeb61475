#include "common/http/server.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
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

}  // namespace
}  // namespace clawos::http
