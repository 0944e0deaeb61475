// The real `clawos` binary against a control plane that hands it guest text
// with terminal controls in it, raw (what a launcher that stored the text
// before it was made safe, or a compromised control plane, would send; the
// shipped launcher also cleans console and log text, so this is the CLI's own
// layer, tested alone). Whatever arrives, `vm logs`, `vm status` and error
// messages never put ESC, BEL or a C1 control on the terminal, and `-o json`
// keeps the exact text, escaped.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "clawos/launcher/v1/launcher.pb.h"
#include "common/http/server.h"
#include "common/proto_json.h"
#include "common/testing/subprocess.h"

namespace clawos::cli {
namespace {

namespace lpb = ::clawos::launcher::v1;
using testing::RunCommand;
using testing::RunResult;

const std::string kTitle = "\x1b]0;pwned\x07";  // sets the window title
const std::string kClear = "\x1b[2J";           // clears the screen
const std::string kCsi8 =
    "\xc2\x9b"
    "31m";                                               // the 8-bit CSI, as UTF-8
const std::string kClip = "\x1b]52;c;cGF5bG9hZA==\x07";  // writes the clipboard

class HostileControlPlane : public http::RequestHandler {
 public:
  void Handle(const http::Request& req, http::ResponseSink& sink) override {
    if (absl::StartsWith(req.target, "/v1/vms/w1/logs")) {
      lpb::LogEntry console;
      console.set_source(lpb::LOG_SOURCE_SERIAL_CONSOLE);
      console.set_sequence(1);
      console.set_text("console " + kTitle + " " + kClear + " " + kCsi8 + " end-console");
      lpb::LogEntry agent;
      agent.set_source(lpb::LOG_SOURCE_AGENT);
      agent.set_sequence(2);
      agent.set_level("ERROR" + kClear);
      agent.set_text("agent \r" + kClip + " end-agent");
      sink.Head(200, {{"content-type", "text/event-stream"}}, true);
      for (const auto* e : {&console, &agent}) {
        sink.Body(absl::StrCat("id: ", e->sequence(), "\nevent: log\ndata: ", ToJson(*e), "\n\n"));
      }
      sink.End();
    } else if (req.target == "/v1/vms/w1") {
      lpb::Vm vm;
      vm.set_name("vms/w1");
      vm.set_state(lpb::Vm::FAILED);
      vm.mutable_failure()->set_reason(lpb::Failure::BOOT_TIMEOUT);
      vm.mutable_failure()->set_message("console tail: " + kTitle + kClear + "\nfake: line");
      vm.set_agent_version("1.0" + kCsi8);
      Answer(sink, 200, ToJson(vm));
    } else {
      Answer(sink, 500,
             nlohmann::json{{"code", 13}, {"message", "the guest said " + kClear + kTitle}}.dump());
    }
  }

 private:
  static void Answer(http::ResponseSink& sink, int status, const std::string& body) {
    sink.Head(status, {{"content-type", "application/json"}}, false);
    sink.Body(body);
    sink.End();
  }
};

class HostileControlPlaneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = http::Server::Start({}, handler_);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }
  RunResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), std::string(CLAWOS_BIN_DIR) + "/clawos");
    args.push_back("--url");
    args.push_back(absl::StrCat("http://127.0.0.1:", server_->port()));
    return RunCommand(args, "", {{"CLAWOS_TOKEN", "a.b.c"}, {"CLAWOS_DIRECT", "0"}});
  }
  // No ESC, BEL, CR, C1 control or other C0 control but '\n'.
  static void ExpectNoControls(const std::string& out) {
    for (size_t i = 0; i < out.size(); ++i) {
      auto c = static_cast<unsigned char>(out[i]);
      bool c1 = c == 0xC2 && i + 1 < out.size() && static_cast<unsigned char>(out[i + 1]) < 0xA0;
      ASSERT_FALSE((c < 0x20 && c != '\n') || c == 0x7f || c1)
          << "control byte " << static_cast<int>(c) << " at " << i << " in:\n"
          << out;
    }
  }

  HostileControlPlane handler_;
  std::unique_ptr<http::Server> server_;
};

TEST_F(HostileControlPlaneTest, LogsShowTheLinesWithTheirControlsEscaped) {
  RunResult r = Cli({"vm", "logs", "w1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectNoControls(r.out);
  EXPECT_TRUE(
      absl::StrContains(r.out, "console \\x1b]0;pwned\\x07 \\x1b[2J \\u009b31m end-console"))
      << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "[agent ERROR\\x1b[2J] agent \\x0d\\x1b]52;c;")) << r.out;
}

TEST_F(HostileControlPlaneTest, JsonLogsKeepTheExactTextEscaped) {
  RunResult r = Cli({"vm", "logs", "w1", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectNoControls(r.out);
  std::string first = r.out.substr(0, r.out.find('\n'));
  auto j = nlohmann::json::parse(first, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_EQ(j.value("text", ""), "console " + kTitle + " " + kClear + " " + kCsi8 + " end-console");
}

TEST_F(HostileControlPlaneTest, StatusShowsTheFailureOnOneEscapedLine) {
  RunResult r = Cli({"vm", "status", "w1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectNoControls(r.out);
  EXPECT_TRUE(absl::StrContains(
      r.out, "failure:   BOOT_TIMEOUT: console tail: \\x1b]0;pwned\\x07\\x1b[2J\\nfake: line\n"))
      << r.out;
  EXPECT_FALSE(absl::StrContains(r.out, "\nfake: line")) << "no forged line";
  EXPECT_TRUE(absl::StrContains(r.out, "agent:     1.0\\u009b31m\n")) << r.out;
}

TEST_F(HostileControlPlaneTest, ErrorMessagesAreEscaped) {
  RunResult r = Cli({"vm", "status", "other"});
  EXPECT_EQ(r.exit_code, 1);
  ExpectNoControls(r.err);
  EXPECT_TRUE(absl::StrContains(r.err, "INTERNAL: the guest said \\x1b[2J\\x1b]0;pwned\\x07"))
      << r.err;
}

}  // namespace
}  // namespace clawos::cli
