// The control-plane stack for integration tests: the real identity,
// launcher, inference proxy, orchestrator and clawos-controlplane from
// build/bin on fresh state, started once per test suite (a VM-capable
// machine only: else each test is SKIPPED with the reason), and helpers to
// call it (Send, Token, Stream for SSE/NDJSON answers, ParseSse, Bytes).
#pragma once
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "cli/stack.h"
#include "cli/stack_nginx.h"
#include "common/crypto/encoding.h"
#include "common/files.h"
#include "common/http/client.h"
#include "common/http/sse.h"
#include "common/tcp_socket.h"
#include "common/testing/daemon_argv.h"
#include "common/testing/eventually.h"
#include "common/testing/http_call.h"
#include "common/testing/ports.h"
#include "common/testing/subprocess.h"
#include "common/testing/temp_dir.h"
#include "common/testing/test_image.h"

namespace clawos {
namespace cptest {

using http::ClientCall;
using http::ParseUrl;
using testing::Daemon;
using testing::RunCommand;
using Headers = std::vector<std::pair<std::string, std::string>>;

inline const std::string kBin = CLAWOS_BIN_DIR;

using Answer = testing::HttpAnswer;

// A streamed answer read on a thread (SSE, NDJSON) until it ends or is dropped.
class Stream {
 public:
  Stream(int port, const std::string& path, Headers headers, const std::string& method = "GET",
         const std::string& body = "") {
    auto c =
        http::ClientCall::Start(http::ParseUrl(absl::StrCat("http://127.0.0.1:", port)).value(),
                                {method, path, std::move(headers), body}, absl::Minutes(5));
    if (!c.ok()) return;
    call_ = std::move(*c);
    status_ = call_->head().status;
    reader_ = std::thread([this] {
      bool done = false;
      while (!done) {
        auto piece = call_->Read(&done);
        if (!piece.ok()) break;
        std::lock_guard lock(mu_);
        text_ += *piece;
      }
      ended_ = true;
    });
  }
  ~Stream() {
    if (call_) call_->Cancel();
    if (reader_.joinable()) reader_.join();
  }
  int status() const { return status_; }
  std::string text() {
    std::lock_guard lock(mu_);
    return text_;
  }
  // Waits until the server ends the stream.
  bool WaitForEnd(absl::Duration limit) {
    absl::Time end = absl::Now() + limit;
    while (absl::Now() < end) {
      if (ended_) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return false;
  }
  // Waits until the text holds `what` (or 60 s pass).
  bool WaitFor(const std::string& what, absl::Duration limit = absl::Seconds(60)) {
    absl::Time end = absl::Now() + limit;
    while (absl::Now() < end) {
      if (absl::StrContains(text(), what)) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return false;
  }

 private:
  std::unique_ptr<http::ClientCall> call_;
  int status_ = 0;
  std::atomic<bool> ended_{false};
  std::mutex mu_;
  std::string text_;
  std::thread reader_;
};

// Protobuf's JSON writes bytes in standard base64.
inline std::string Bytes(const nlohmann::json& v) {
  std::string s = v.get<std::string>();
  std::string url;
  for (char c : s) {
    if (c == '=') continue;
    url.push_back(c == '+' ? '-' : c == '/' ? '_' : c);
  }
  auto b = crypto::Base64UrlDecode(url);
  return b.ok() ? std::string(b->begin(), b->end()) : "<bad base64>";
}

struct SseEvent {
  std::string id, event;
  nlohmann::json data;
};

// The events with data in an SSE text (the shared splitter).
inline std::vector<SseEvent> ParseSse(const std::string& text) {
  std::vector<SseEvent> out;
  http::SseSplitter split([&](const http::SseEvent& e, std::string_view) {
    if (!e.data.empty())
      out.push_back({e.id, e.name, nlohmann::json::parse(e.data, nullptr, false)});
  });
  std::string error;
  split.Feed(text, &error);
  return out;
}

class ControlPlaneTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    skip_ = testing::VmTestSkipReason(&image_);
    if (!skip_.empty()) return;
    dir_ = new testing::TempDir();
    cgroup_parent_ = absl::StrCat("clawos-test-cp", getpid());
    identity_ = new Daemon(testing::IdentityArgv(kBin, dir_->path()), Sub("identity.log"));
    ASSERT_TRUE(identity_->WaitForFile(Sub("id.sock"))) << identity_->Log();
    StartProxy();
    std::vector<std::string> largv = testing::LauncherArgv(kBin, dir_->path(), cgroup_parent_);
    launcher_ = new Daemon(largv, Sub("launcher.log"), testing::LauncherEnv(image_));
    ASSERT_TRUE(launcher_->WaitForFile(Sub("launcher.sock"))) << launcher_->Log();
    orchestrator_ =
        new Daemon(testing::OrchestratorArgv(kBin, dir_->path()), Sub("orchestrator.log"));
    ASSERT_TRUE(orchestrator_->WaitForFile(Sub("orch.sock"))) << orchestrator_->Log();
    port_ = StackPort();
    cp_ = new Daemon(CpArgv(port_, "cp", {"--sse-keepalive", "1s", "--stream-recheck", "2s"}),
                     Sub("cp.log"));
    ASSERT_TRUE(cp_->WaitForFile(Sub("cp/admin.token"))) << cp_->Log();
    for (int i = 0; i < 100 && Send("GET", "/healthz").status != 200; ++i) {
      absl::SleepFor(absl::Milliseconds(100));
    }
    admin_ =
        std::string(absl::StripTrailingAsciiWhitespace(ReadFile(Sub("cp/admin.token")).value()));
  }
  static std::vector<std::string> CpArgv(int port, const std::string& state,
                                         const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {kBin + "/clawos-controlplane",
                                     "--listen",
                                     absl::StrCat("127.0.0.1:", port),
                                     "--state-dir",
                                     Sub(state),
                                     "--identity",
                                     "unix:" + Sub("id.sock"),
                                     "--launcher",
                                     "unix:" + Sub("launcher.sock"),
                                     "--proxy-admin",
                                     "unix:" + Sub("admin.sock"),
                                     "--orchestrator",
                                     "unix:" + Sub("orch.sock"),
                                     "--monitor",
                                     "off"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }
  // A port for the control plane such that `clawos up`'s nginx ports at the
  // same offset (8081 and 8443 for 8080) are free too.
  static int StackPort() { return testing::FreeStackPort(); }
  static void StartProxy() {
    proxy_ = new Daemon({kBin + "/clawos-inference-proxy", "--listen", "127.0.0.1:0", "--state-dir",
                         Sub("proxy"), "--identity", "unix:" + Sub("id.sock"), "--admin-listen",
                         "unix:" + Sub("admin.sock"), "--metrics-listen", "off"},
                        Sub("proxy.log"));
    ASSERT_TRUE(proxy_->WaitForFile(Sub("admin.sock"))) << proxy_->Log();
  }
  static void TearDownTestSuite() {
    if (!dir_) return;
    Send("DELETE", "/v1/vms/web?force=true", "", admin_);
    for (Daemon* d : {cp_, orchestrator_, launcher_, proxy_, identity_}) delete d;
    testing::RemoveCgroupParent(cgroup_parent_);
    delete dir_;
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
  }

  static std::string Sub(const std::string& p) { return dir_->Sub(p); }
  static Answer Send(const std::string& method, const std::string& path,
                     const std::string& body = "", const std::string& token = "",
                     Headers headers = {}) {
    if (!token.empty()) headers.emplace_back("authorization", "Bearer " + token);
    return testing::HttpCall(port_, method, path, body, std::move(headers));
  }
  // A token from clawos-identity through the CLI.
  static std::string Token(const std::string& sub, const std::string& role,
                           const std::string& aud = "clawos-controlplane") {
    auto r = RunCommand({kBin + "/clawos", "token", "issue", "--subject", sub, "--audience", aud,
                         "--role", role, "--ttl", "10m"},
                        "", {{"CLAWOS_IDENTITY_ADDR", "unix:" + Sub("id.sock")}});
    return r.exit_code == 0 ? std::string(absl::StripTrailingAsciiWhitespace(r.out)) : "";
  }

  static inline std::string skip_, image_, cgroup_parent_, admin_;
  static inline testing::TempDir* dir_ = nullptr;
  static inline Daemon *identity_ = nullptr, *proxy_ = nullptr, *launcher_ = nullptr,
                       *cp_ = nullptr, *orchestrator_ = nullptr;
  static inline int port_ = 0;
};

}  // namespace cptest
}  // namespace clawos
