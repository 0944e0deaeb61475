// bench_proxy: what the inference proxy adds to an LLM call. One run starts
// a canned OpenAI-compatible upstream (nginx `return 200`, or without nginx
// an in-process server), a bare nginx `proxy_pass` in front of it (the
// baseline), the real clawos-identity and clawos-inference-proxy, and
// Portkey's gateway (node, @portkey-ai/gateway) in front of the same
// upstream; then measures, over keep-alive connections:
//   - latency, one client, sequential: p50/p99 direct, via nginx, via the
//     proxy, via Portkey; the added latency is the difference to direct;
//   - throughput, several clients for a fixed time, in rounds (each target
//     once per round, back to back): requests/s of each, and the proxy's
//     ratio to nginx proxy_pass (goal >= 0.5) and to Portkey, the median of
//     the rounds' ratios (this machine's speed drifts from minute to minute).
// The proxy runs with its full data path: JWT verification, limits (set high
// enough never to refuse), the ledger and the audit log.
//
//   build/bench/bench_proxy [--n 3000] [--warmup 300] [--connections 8]
//                           [--seconds 5] [--portkey-dir DIR | --no-portkey]
//                           [--no-nginx] [--rounds 3]
//
// Portkey is installed on first use with `npm install @portkey-ai/gateway@1.15.2`
// into --portkey-dir (default ~/.cache/clawos/portkey); without npm that part
// says SKIPPED.
#include <unistd.h>

#include <algorithm>
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
#include "bench/proxy/nginx_peer.h"
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

// The canned answer every upstream gives (usage included, so the proxy counts tokens).
const char* kAnswer =
    R"({"id":"chatcmpl-bench","object":"chat.completion","model":"gpt-4o-mini",)"
    R"("choices":[{"index":0,"message":{"role":"assistant","content":"hello"},)"
    R"("finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":2,)"
    R"("total_tokens":11}})";

// Answers every chat completion with the same small JSON, usage included.
class CannedUpstream : public http::RequestHandler {
 public:
  void Handle(const http::Request& req, http::ResponseSink& sink) override {
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

// clawos-identity, and an agent token from it ("" when it could not be had).
std::string IssueToken(const ScratchDir& dir) {
  for (int i = 0; i < 50; ++i) {
    auto r = clawos::testing::RunCommand(
        {kBin + "/clawos", "token", "issue", "--subject", "agents/bench", "--audience",
         "clawos-inference-proxy", "--ttl", "1h"},
        "", {{"CLAWOS_IDENTITY_ADDR", "unix:" + dir.Sub("id.sock")}});
    if (r.exit_code == 0) return std::string(absl::StripTrailingAsciiWhitespace(r.out));
    absl::SleepFor(absl::Milliseconds(100));
  }
  return "";
}

// Portkey's gateway in front of the upstream at `up_port`, as a target; nullopt: SKIPPED.
std::optional<Target> StartPortkey(const std::string& portkey_dir, const ScratchDir& dir,
                                   int up_port, const std::string& body,
                                   std::unique_ptr<clawos::testing::Daemon>& portkey) {
  auto server = PortkeyServer(portkey_dir);
  if (!server) return std::nullopt;
  const int pk_port = clawos::testing::FreeLoopbackPort();
  portkey = std::make_unique<clawos::testing::Daemon>(
      std::vector<std::string>{"/usr/bin/node", *server, absl::StrCat("--port=", pk_port),
                               "--headless"},
      dir.Sub("portkey.log"), std::map<std::string, std::string>{{"NODE_ENV", "production"}});
  if (!WaitForPort(pk_port, *portkey)) {
    std::printf("portkey: SKIPPED (it did not start:\n%s)\n", portkey->Log().c_str());
    return std::nullopt;
  }
  return Target{"portkey",
                pk_port,
                "/v1/chat/completions",
                {{"authorization", "Bearer sk-bench"},
                 {"x-portkey-provider", "openai"},
                 {"x-portkey-custom-host", absl::StrCat("http://127.0.0.1:", up_port, "/v1")}},
                body};
}

int Index(const std::vector<Target>& targets, const std::string& name) {
  for (size_t i = 0; i < targets.size(); ++i) {
    if (targets[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

// Runs every target; prints the table and the ratios. The number of failed requests.
int Measure(const std::vector<Target>& targets, int n, int warmup, int connections, double seconds,
            int rounds) {
  std::printf("latency, 1 connection, %d sequential requests (after %d untimed):\n", n, warmup);
  std::vector<bench::LatencyResult> lat;
  int errors = 0;
  for (const auto& t : targets) {
    lat.push_back(bench::MeasureLatency(t, n, warmup));
    PrintLatency(t.name, lat.back());
    errors += lat.back().errors;
  }
  // Throughput drifts with this machine's speed: each round measures every
  // target back to back, and a ratio is the median of the rounds' ratios.
  std::printf("throughput, %d connections, %.0f s each, %d rounds:\n", connections, seconds,
              rounds);
  std::vector<std::vector<double>> rps(targets.size());
  for (int round = 0; round < rounds; ++round) {
    for (size_t i = 0; i < targets.size(); ++i) {
      auto r = bench::MeasureThroughput(targets[i], connections, seconds);
      std::printf("  round %d %-8s %9.0f requests/s   (%ld answers, %d errors)\n", round + 1,
                  targets[i].name.c_str(), r.requests_per_second, r.answered, r.errors);
      rps[i].push_back(r.requests_per_second);
      errors += r.errors;
    }
  }
  const int direct = 0, clawos = Index(targets, "clawos"), nginx = Index(targets, "nginx"),
            portkey = Index(targets, "portkey");
  auto added = [&](int i, double p) { return lat[i].Percentile(p) - lat[direct].Percentile(p); };
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  auto ratio = [&](int a, int b) {
    std::vector<double> r;
    for (int k = 0; k < rounds; ++k) r.push_back(rps[a][k] / std::max(1.0, rps[b][k]));
    return median(r);
  };
  std::printf("result:\n");
  std::printf("  clawos added latency: p50 %.1f us, p99 %.1f us (goal: p99 <= 1000 us)\n",
              added(clawos, 50), added(clawos, 99));
  std::printf("  clawos throughput / direct: %.2f\n", ratio(clawos, direct));
  if (nginx >= 0) {
    std::printf("  nginx proxy_pass added latency: p50 %.1f us, p99 %.1f us\n", added(nginx, 50),
                added(nginx, 99));
    std::printf("  clawos throughput / nginx proxy_pass: %.2f (goal: >= 0.5)\n",
                ratio(clawos, nginx));
  }
  if (portkey >= 0) {
    std::printf("  portkey added latency: p50 %.1f us, p99 %.1f us\n", added(portkey, 50),
                added(portkey, 99));
    std::printf("  clawos throughput / portkey: %.2f (goal: >= 5)\n", ratio(clawos, portkey));
    std::printf("  portkey p99 added / clawos p99 added: %.1f\n",
                added(portkey, 99) / added(clawos, 99));
  }
  return errors;
}

}  // namespace

int main(int argc, char** argv) {
  int n = 3000, warmup = 300, connections = 8, rounds = 3;
  double seconds = 5;
  const char* home = getenv("HOME");
  std::string portkey_dir = std::string(home ? home : "/root") + "/.cache/clawos/portkey";
  bool no_portkey = false, no_nginx = false;
  CLI::App app{
      "bench_proxy: latency and throughput of clawos-inference-proxy vs direct, nginx "
      "proxy_pass and Portkey"};
  app.add_option("--n", n, "Timed sequential requests per target")->capture_default_str();
  app.add_option("--warmup", warmup, "Untimed requests first")->capture_default_str();
  app.add_option("--connections", connections, "Clients in the throughput runs")
      ->capture_default_str();
  app.add_option("--seconds", seconds, "Length of each throughput run")->capture_default_str();
  app.add_option("--rounds", rounds, "Throughput rounds (ratios are their median)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_option("--portkey-dir", portkey_dir, "Where @portkey-ai/gateway is (or goes)")
      ->capture_default_str();
  app.add_flag("--no-portkey", no_portkey, "Leave Portkey out");
  app.add_flag("--no-nginx", no_nginx,
               "Leave nginx out (the upstream is then an in-process canned server)");
  CLI11_PARSE(app, argc, argv);
  log::Init("bench_proxy", "error");

  ScratchDir dir;
  // The upstream: nginx `return 200` when nginx is here, else an in-process server.
  std::optional<bench::NginxPeer> nginx;
  const std::string nginx_bin = no_nginx ? "" : bench::FindNginxBinary();
  if (!nginx_bin.empty()) {
    auto peer = bench::StartNginx(nginx_bin, dir.Sub("nginx"), kAnswer);
    if (!peer.ok()) {
      std::fprintf(stderr, "%s\n", peer.status().ToString().c_str());
      return 1;
    }
    nginx = std::move(*peer);
  } else if (!no_nginx) {
    std::printf("nginx: SKIPPED (not installed: apt-get install nginx)\n");
  }
  CannedUpstream canned;
  std::unique_ptr<http::Server> in_process;
  int up_port = 0;
  if (nginx) {
    up_port = nginx->upstream_port;
  } else {
    http::ServerOptions uo;
    uo.port = 0;
    auto upstream = http::Server::Start(uo, canned);
    if (!upstream.ok()) {
      std::fprintf(stderr, "upstream: %s\n", upstream.status().ToString().c_str());
      return 1;
    }
    in_process = std::move(*upstream);
    up_port = in_process->port();
  }

  clawos::testing::Daemon identity(
      {kBin + "/clawos-identity", "--state-dir", dir.Sub("identity"), "--listen",
       "unix:" + dir.Sub("id.sock"), "--metrics-listen", ""},
      dir.Sub("identity.log"));
  if (!identity.WaitForFile(dir.Sub("id.sock"))) {
    std::fprintf(stderr, "clawos-identity did not start:\n%s\n", identity.Log().c_str());
    return 1;
  }
  const std::string token = IssueToken(dir);
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
  const std::string path = "/v1/chat/completions";
  std::vector<Target> targets = {
      {"direct", up_port, path, {{"authorization", "Bearer sk-bench"}}, body}};
  if (nginx) {
    targets.push_back(
        {"nginx", nginx->front_port, path, {{"authorization", "Bearer sk-bench"}}, body});
  }
  targets.push_back({"clawos", proxy_port, path, {{"authorization", "Bearer " + token}}, body});
  std::unique_ptr<clawos::testing::Daemon> portkey;
  if (!no_portkey) {
    if (auto t = StartPortkey(portkey_dir, dir, up_port, body, portkey)) targets.push_back(*t);
  }
  const int errors = Measure(targets, n, warmup, connections, seconds, rounds);
  if (errors > 0) {
    std::fprintf(stderr, "%d requests failed; see %s\n", errors, dir.path.c_str());
    return 1;
  }
  return 0;
}
