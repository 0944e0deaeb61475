// bench_proxy: what the inference proxy adds to an LLM call. One run starts
// a canned OpenAI-compatible upstream (in this process, on the proxy's own
// HTTP listener), the real clawos-identity and clawos-inference-proxy, and
// Portkey's gateway (node, @portkey-ai/gateway) in front of the same
// upstream; then measures, over keep-alive connections:
//   - latency, one client, sequential: p50/p99 direct, via the proxy, via
//     Portkey; the added latency is the difference to direct;
//   - throughput, several clients for a fixed time: requests/s of each.
// The proxy runs with its full data path: JWT verification, limits (set high
// enough never to refuse), the ledger and the audit log.
//
//   build/bench/bench_proxy [--n 3000] [--warmup 300] [--connections 8]
//                           [--seconds 5] [--portkey-dir DIR | --no-portkey]
//
// Portkey is installed on first use with `npm install @portkey-ai/gateway@1.15.2`
// into --portkey-dir (default ~/.cache/clawos/portkey); without npm that part
// says SKIPPED.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/proxy/load.h"
#include "common/http/server.h"
#include "common/log.h"
#include "common/tcp_socket.h"
#include "common/testing/ports.h"
#include "common/testing/subprocess.h"

namespace {

using namespace clawos;
using bench::Target;
const std::string kBin = CLAWOS_BIN_DIR;
const char* kPortkeyVersion = "1.15.2";

// Answers every chat completion with the same small JSON, usage included.
class CannedUpstream : public http::RequestHandler {
 public:
  void Handle(const http::Request& req, http::ResponseSink& sink) override {
    static const std::string kAnswer =
        R"({"id":"chatcmpl-bench","object":"chat.completion","model":"gpt-4o-mini",)"
        R"("choices":[{"index":0,"message":{"role":"assistant","content":"hello"},)"
        R"("finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":2,)"
        R"("total_tokens":11}})";
    if (req.method != "POST") {
      sink.Head(404, {{"content-type", "application/json"}}, false);
      sink.Body(R"({"error":{"message":"no route"}})");
    } else {
      sink.Head(200, {{"content-type", "application/json"}}, false);
      sink.Body(kAnswer);
    }
    sink.End();
  }
};

// A scratch directory, removed at exit.
struct ScratchDir {
  ScratchDir() {
    char tmpl[] = "/tmp/bench_proxy.XXXXXX";
    path = mkdtemp(tmpl) ? tmpl : "/tmp";
  }
  ~ScratchDir() {
    std::error_code ec;
    if (path != "/tmp") std::filesystem::remove_all(path, ec);
  }
  std::string Sub(const std::string& name) const { return path + "/" + name; }
  std::string path;
};

bool WaitForPort(int port, clawos::testing::Daemon& d) {
  for (int i = 0; i < 300; ++i) {
    if (auto fd = ConnectTcp("127.0.0.1", port, absl::Seconds(1)); fd.ok()) {
      close(*fd);
      return true;
    }
    if (!d.Running()) return false;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return false;
}

// Portkey's gateway, installed with npm when missing. nullopt: SKIPPED (printed).
std::optional<std::string> PortkeyServer(const std::string& dir) {
  std::string server = dir + "/node_modules/@portkey-ai/gateway/build/start-server.js";
  if (std::filesystem::exists(server)) return server;
  if (access("/usr/bin/node", X_OK) != 0 || access("/usr/bin/npm", X_OK) != 0) {
    std::printf("portkey: SKIPPED (node and npm are needed: apt-get install nodejs npm)\n");
    return std::nullopt;
  }
  std::filesystem::create_directories(dir);
  std::printf("portkey: npm install @portkey-ai/gateway@%s into %s\n", kPortkeyVersion,
              dir.c_str());
  auto r = clawos::testing::RunCommand(
      {"/usr/bin/npm", "install", "--prefix", dir, "--no-audit", "--no-fund",
       absl::StrCat("@portkey-ai/gateway@", kPortkeyVersion)},
      "", {}, absl::Minutes(5));
  if (r.exit_code != 0 || !std::filesystem::exists(server)) {
    std::printf("portkey: SKIPPED (npm install failed: %s)\n", r.err.c_str());
    return std::nullopt;
  }
  return server;
}

void PrintLatency(const std::string& name, const bench::LatencyResult& r) {
  std::printf("  %-8s p50 %8.1f us   p99 %8.1f us   (%zu answers, %d errors)\n", name.c_str(),
              r.Percentile(50), r.Percentile(99), r.micros.size(), r.errors);
}

}  // namespace

int main(int argc, char** argv) {
  int n = 3000, warmup = 300, connections = 8;
  double seconds = 5;
  const char* home = getenv("HOME");
  std::string portkey_dir = std::string(home ? home : "/root") + "/.cache/clawos/portkey";
  bool no_portkey = false;
  CLI::App app{
      "bench_proxy: latency and throughput of clawos-inference-proxy vs direct and Portkey"};
  app.add_option("--n", n, "Timed sequential requests per target")->capture_default_str();
  app.add_option("--warmup", warmup, "Untimed requests first")->capture_default_str();
  app.add_option("--connections", connections, "Clients in the throughput runs")
      ->capture_default_str();
  app.add_option("--seconds", seconds, "Length of each throughput run")->capture_default_str();
  app.add_option("--portkey-dir", portkey_dir, "Where @portkey-ai/gateway is (or goes)")
      ->capture_default_str();
  app.add_flag("--no-portkey", no_portkey, "Leave Portkey out");
  CLI11_PARSE(app, argc, argv);
  log::Init("bench_proxy", "error");

  ScratchDir dir;
  CannedUpstream canned;
  http::ServerOptions uo;
  uo.port = 0;
  auto upstream = http::Server::Start(uo, canned);
  if (!upstream.ok()) {
    std::fprintf(stderr, "upstream: %s\n", upstream.status().ToString().c_str());
    return 1;
  }
  const int up_port = (*upstream)->port();

  clawos::testing::Daemon identity(
      {kBin + "/clawos-identity", "--state-dir", dir.Sub("identity"), "--listen",
       "unix:" + dir.Sub("id.sock"), "--metrics-listen", ""},
      dir.Sub("identity.log"));
  if (!identity.WaitForFile(dir.Sub("id.sock"))) {
    std::fprintf(stderr, "clawos-identity did not start:\n%s\n", identity.Log().c_str());
    return 1;
  }
  std::string token;
  for (int i = 0; i < 50 && token.empty(); ++i) {
    auto r = clawos::testing::RunCommand(
        {kBin + "/clawos", "token", "issue", "--subject", "agents/bench", "--audience",
         "clawos-inference-proxy", "--ttl", "1h"},
        "", {{"CLAWOS_IDENTITY_ADDR", "unix:" + dir.Sub("id.sock")}});
    if (r.exit_code == 0) token = std::string(absl::StripTrailingAsciiWhitespace(r.out));
    if (token.empty()) absl::SleepFor(absl::Milliseconds(100));
  }
  if (token.empty()) {
    std::fprintf(stderr, "could not issue an agent token\n");
    return 1;
  }

  const int proxy_port = clawos::testing::FreeLoopbackPort();
  clawos::testing::Daemon proxy_daemon(
      {kBin + "/clawos-inference-proxy", "--listen", absl::StrCat("127.0.0.1:", proxy_port),
       "--state-dir", dir.Sub("proxy"), "--identity", "unix:" + dir.Sub("id.sock"), "--openai-url",
       absl::StrCat("http://127.0.0.1:", up_port), "--admin-listen",
       "unix:" + dir.Sub("admin.sock"), "--metrics-listen", "off", "--rpm", "100000000",
       "--log-level", "warn"},
      dir.Sub("proxy.log"), {{"CLAWOS_OPENAI_API_KEY", "sk-bench"}});
  if (!WaitForPort(proxy_port, proxy_daemon)) {
    std::fprintf(stderr, "clawos-inference-proxy did not start:\n%s\n", proxy_daemon.Log().c_str());
    return 1;
  }

  const std::string body =
      R"({"model":"gpt-4o-mini","max_tokens":16,"messages":[{"role":"user","content":"hi"}]})";
  std::vector<Target> targets = {
      {"direct", up_port, "/v1/chat/completions", {{"authorization", "Bearer sk-bench"}}, body},
      {"clawos", proxy_port, "/v1/chat/completions", {{"authorization", "Bearer " + token}}, body},
  };
  std::unique_ptr<clawos::testing::Daemon> portkey;
  if (!no_portkey) {
    if (auto server = PortkeyServer(portkey_dir)) {
      const int pk_port = clawos::testing::FreeLoopbackPort();
      portkey = std::make_unique<clawos::testing::Daemon>(
          std::vector<std::string>{"/usr/bin/node", *server, absl::StrCat("--port=", pk_port),
                                   "--headless"},
          dir.Sub("portkey.log"), std::map<std::string, std::string>{{"NODE_ENV", "production"}});
      if (WaitForPort(pk_port, *portkey)) {
        targets.push_back(
            {"portkey",
             pk_port,
             "/v1/chat/completions",
             {{"authorization", "Bearer sk-bench"},
              {"x-portkey-provider", "openai"},
              {"x-portkey-custom-host", absl::StrCat("http://127.0.0.1:", up_port, "/v1")}},
             body});
      } else {
        std::printf("portkey: SKIPPED (it did not start:\n%s)\n", portkey->Log().c_str());
      }
    }
  }

  std::printf("latency, 1 connection, %d sequential requests (after %d untimed):\n", n, warmup);
  std::vector<bench::LatencyResult> lat;
  int errors = 0;
  for (const auto& t : targets) {
    lat.push_back(bench::MeasureLatency(t, n, warmup));
    PrintLatency(t.name, lat.back());
    errors += lat.back().errors;
  }
  std::printf("throughput, %d connections, %.0f s each:\n", connections, seconds);
  std::vector<bench::ThroughputResult> tput;
  for (const auto& t : targets) {
    tput.push_back(bench::MeasureThroughput(t, connections, seconds));
    std::printf("  %-8s %9.0f requests/s   (%ld answers, %d errors)\n", t.name.c_str(),
                tput.back().requests_per_second, tput.back().answered, tput.back().errors);
    errors += tput.back().errors;
  }

  auto added = [&](size_t i, double p) { return lat[i].Percentile(p) - lat[0].Percentile(p); };
  std::printf("result:\n");
  std::printf("  clawos added latency: p50 %.1f us, p99 %.1f us (goal: p99 <= 1000 us)\n",
              added(1, 50), added(1, 99));
  std::printf("  clawos throughput / direct: %.2f\n",
              tput[1].requests_per_second / tput[0].requests_per_second);
  if (targets.size() > 2) {
    std::printf("  portkey added latency: p50 %.1f us, p99 %.1f us\n", added(2, 50), added(2, 99));
    std::printf("  clawos throughput / portkey: %.2f (goal: >= 5)\n",
                tput[1].requests_per_second / tput[2].requests_per_second);
    std::printf("  portkey p99 added / clawos p99 added: %.1f\n", added(2, 99) / added(1, 99));
  }
  if (errors > 0) {
    std::fprintf(stderr, "%d requests failed; see %s\n", errors, dir.path.c_str());
    return 1;
  }
  return 0;
}
