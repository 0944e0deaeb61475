// The real clawos-controlplane in front of the real identity, launcher and
// inference proxy: every route including its errors and auth (no token, a
// viewer doing a mutation, an agent token, bad JSON, unknown VMs), the
// OpenAPI document against the real routes, a VM created, started, exec'd
// (NDJSON), logged (SSE) and stopped over REST with its lifecycle seen on
// /v1/events and resumed with Last-Event-ID, tokens, limits, usage, the
// audit log and the metrics; a revoked token ending a busy stream; the
// per-role stream caps; /metrics through the shipped nginx config (refused)
// and on loopback (served).
#include "absl/strings/str_join.h"
#include "test/integration/controlplane_fixture.h"

namespace clawos {
namespace {

using namespace cptest;  // NOLINT: the fixture and its helpers

TEST_F(ControlPlaneTest, HealthReadinessAndTheBootstrapToken) {
  EXPECT_EQ(Send("GET", "/healthz").status, 200);
  Answer ready = Send("GET", "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(ready.Json()["ready"], true);
  struct stat st;
  ASSERT_EQ(stat(Sub("cp/admin.token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(Sub("cp").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  // A daemon down: /readyz says which, and recovers when it is back.
  delete proxy_;
  proxy_ = nullptr;
  Answer down = Send("GET", "/readyz");
  EXPECT_EQ(down.status, 503);
  EXPECT_NE(down.body.find("inference-proxy"), std::string::npos) << down.body;
  Answer limits = Send("GET", "/v1/agents/a1/limits", "", admin_);
  EXPECT_EQ(limits.status, 503) << limits.body;
  EXPECT_EQ(limits.Json()["code"], 14);
  StartProxy();
  Answer again;
  testing::Eventually([&] { return (again = Send("GET", "/readyz")).status == 200; });
  EXPECT_EQ(again.status, 200) << again.body;
}

TEST_F(ControlPlaneTest, TokensAndRolesAreEnforcedAndAdminCallsAudited) {
  Answer none = Send("GET", "/v1/vms");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.Json()["code"], 16);
  EXPECT_EQ(Send("GET", "/v1/vms", "", "not.a.token").status, 401);
  EXPECT_EQ(Send("GET", "/v1/vms", "", "", {{"authorization", "Basic abc"}}).status, 401);
  // A token for another audience, and an agent's token.
  EXPECT_EQ(
      Send("GET", "/v1/vms", "", Token("operators/x", "admin", "clawos-inference-proxy")).status,
      401);
  Answer agent = Send("GET", "/v1/vms", "", Token("agents/a1", "agent"));
  EXPECT_EQ(agent.status, 403) << agent.body;

  std::string viewer = Token("operators/vera", "viewer");
  ASSERT_FALSE(viewer.empty());
  EXPECT_EQ(Send("GET", "/v1/vms", "", viewer).status, 200);
  EXPECT_EQ(Send("GET", "/v1/images", "", viewer).status, 200);
  Answer mutate = Send("POST", "/v1/vms", R"({"vm_id":"v1","spec":{"image":"images/x"}})", viewer);
  EXPECT_EQ(mutate.status, 403) << mutate.body;
  EXPECT_EQ(mutate.Json()["code"], 7);
  EXPECT_EQ(
      Send("POST", "/v1/tokens",
           R"({"subject":"operators/me","audience":"clawos-controlplane","role":"admin"})", viewer)
          .status,
      403);

  // An admin mints a viewer token over REST, and it works.
  Answer minted = Send(
      "POST", "/v1/tokens",
      R"({"subject":"operators/rest-viewer","audience":"clawos-controlplane","role":"viewer","ttl":"300s"})",
      admin_);
  ASSERT_EQ(minted.status, 200) << minted.body;
  std::string t2 = minted.Json().value("token", "");
  EXPECT_EQ(Send("GET", "/v1/vms", "", t2).status, 200);
  EXPECT_EQ(Send("DELETE", "/v1/vms/x", "", t2).status, 403);

  // The audit log holds the refused and the allowed admin calls, with who.
  std::string audit = ReadFile(Sub("cp/audit.jsonl")).value_or("");
  bool refused = false, minted_seen = false;
  for (absl::string_view line : absl::StrSplit(audit, '\n', absl::SkipEmpty())) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.value("subject", "") == "operators/vera" && j.value("path", "") == "/v1/vms" &&
        j.value("status", 0) == 403) {
      refused = true;
    }
    if (j.value("path", "") == "/v1/tokens" && j.value("status", 0) == 200 &&
        j.value("subject", "") == "operators/bootstrap-admin") {
      minted_seen = true;
    }
  }
  EXPECT_TRUE(refused) << audit;
  EXPECT_TRUE(minted_seen) << audit;
  // GETs are not audited, nor calls without a valid token (they could flush the log).
  EXPECT_EQ(audit.find("\"method\":\"GET\""), std::string::npos);
  EXPECT_EQ(audit.find("\"subject\":\"\""), std::string::npos) << audit;
}

TEST_F(ControlPlaneTest, ARevokedTokenEndsItsOpenStream) {
  std::string viewer = Token("operators/short-lived", "viewer");
  Stream events(port_, "/v1/events", {{"authorization", "Bearer " + viewer}});
  ASSERT_EQ(events.status(), 200);
  ASSERT_TRUE(events.WaitFor("retry: 3000"));
  auto r = RunCommand({kBin + "/clawos", "token", "revoke", "--subject", "operators/short-lived"},
                      "", {{"CLAWOS_IDENTITY_ADDR", "unix:" + Sub("id.sock")}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Revocations are polled every 5 s; the stream re-checks every 2 s (--stream-recheck).
  ASSERT_TRUE(events.WaitForEnd(absl::Seconds(20))) << events.text();
  auto last = ParseSse(events.text());
  ASSERT_FALSE(last.empty()) << events.text();
  EXPECT_EQ(last.back().event, "error");
  EXPECT_EQ(last.back().data["code"], 16);
  EXPECT_EQ(Send("GET", "/v1/vms", "", viewer).status, 401);
}

TEST_F(ControlPlaneTest, ErrorsHaveTheApiShapeAndStatus) {
  auto check = [&](const Answer& a, int status, int code, const std::string& part) {
    EXPECT_EQ(a.status, status) << a.body;
    auto j = a.Json();
    ASSERT_TRUE(j.is_object()) << a.body;
    EXPECT_EQ(j["code"], code) << a.body;
    EXPECT_TRUE(j["details"].is_array());
    EXPECT_NE(j.value("message", "").find(part), std::string::npos) << a.body;
    EXPECT_EQ(a.Header("content-type"), "application/json");
    EXPECT_FALSE(a.Header("x-request-id").empty());
    EXPECT_EQ(a.Header("access-control-allow-origin"), "") << "no CORS";
  };
  check(Send("GET", "/v1/nothing", "", admin_), 404, 5, "no route");
  EXPECT_EQ(Send("HEAD", "/healthz").status, 405) << "no HEAD: its body would desync nginx";
  check(Send("GET", "/v1/vms/bad%20name", "", admin_), 404, 5, "no route");
  Answer wrong = Send("PATCH", "/v1/vms", "{}", admin_);
  check(wrong, 405, 12, "not allowed");
  EXPECT_EQ(wrong.Header("allow"), "GET, POST");
  check(Send("POST", "/v1/vms", "{not json", admin_), 400, 3, "not a valid CreateVmRequest");
  check(Send("POST", "/v1/vms", R"({"vm_id":"x","colour":"red"})", admin_), 400, 3, "colour");
  check(Send("GET", "/v1/vms/nope", "", admin_), 404, 5, "nope");
  check(Send("POST", "/v1/vms/nope:start", "", admin_), 404, 5, "nope");
  check(Send("GET", "/v1/vms?page_size=lots", "", admin_), 400, 3, "page_size");
  check(Send("GET", "/v1/vms/%zz", "", admin_), 400, 3, "%-escape");
  check(Send("PUT", "/v1/agents/a1/limits",
             R"({"name":"limits/agents/b2","requests_per_minute":"3"})", admin_),
        400, 3, "agents/a1/limits");
  check(Send("PUT", "/v1/agents/a1/limits", R"({"usage":{}})", admin_), 400, 3, "cannot be set");
  check(Send("POST", "/v1/vms/nope:exec", R"({"argv":[]})", admin_), 400, 3, "argv");
  // Bodies over the limit are refused before they are read: only the head is sent.
  auto fd = ConnectTcp("127.0.0.1", port_, absl::Seconds(10));
  ASSERT_TRUE(fd.ok());
  std::string head = absl::StrCat("POST /v1/vms HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ",
                                  admin_, "\r\nContent-Length: ", 2 << 20, "\r\n\r\n");
  ASSERT_EQ(::send(*fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  char buf[256] = {};
  ASSERT_GT(::recv(*fd, buf, sizeof(buf) - 1, 0), 0);
  ::close(*fd);
  EXPECT_EQ(std::string(buf).rfind("HTTP/1.1 413", 0), 0u) << buf;
  // The caller's request id comes back.
  Answer rid = Send("GET", "/v1/vms/nope", "", admin_, {{"x-request-id", "trace-me-1"}});
  EXPECT_EQ(rid.Header("x-request-id"), "trace-me-1");
}

TEST_F(ControlPlaneTest, TheOpenApiDocumentDescribesTheRealRoutes) {
  Answer doc = Send("GET", "/v1/openapi.json");
  ASSERT_EQ(doc.status, 200);
  auto j = doc.Json();
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.value("openapi", "").substr(0, 2), "3.");
  std::set<std::pair<std::string, std::string>> documented;
  for (const auto& [path, ops] : j["paths"].items()) {
    for (const auto& [method, op] : ops.items()) {
      documented.insert({absl::AsciiStrToUpper(method), path});
      EXPECT_TRUE(op.contains("operationId")) << method << " " << path;
      EXPECT_TRUE(op["responses"].contains("200")) << method << " " << path;
    }
  }
  EXPECT_GE(documented.size(), 25u);
  // Each documented route is served: never "no route" or 405 (streams: the head only).
  static const std::regex kParam("\\{[^}]+\\}");
  for (const auto& [method, path] : documented) {
    std::string p = std::regex_replace(path, kParam, "doc-check");
    Headers h = {{"authorization", "Bearer " + admin_}, {"content-type", "application/json"}};
    auto c = http::ClientCall::Start(
        http::ParseUrl(absl::StrCat("http://127.0.0.1:", port_)).value(),
        {method, p, h, method == "GET" || method == "DELETE" ? "" : "{}"}, absl::Seconds(30));
    ASSERT_TRUE(c.ok()) << method << " " << p;
    int status = (*c)->head().status;
    EXPECT_NE(status, 405) << method << " " << p;
    if (status == 404) {
      std::string body = (*c)->ReadAll();
      EXPECT_EQ(body.find("no route"), std::string::npos) << method << " " << p << ": " << body;
    }
    (*c)->Cancel();
  }
}

TEST_F(ControlPlaneTest, LimitsAndUsageGoThroughTheProxy) {
  Answer put = Send("PUT", "/v1/agents/a7/limits",
                    R"({"requests_per_minute":"5","budget_tokens":"1000"})", admin_);
  ASSERT_EQ(put.status, 200) << put.body;
  Answer get = Send("GET", "/v1/agents/a7/limits", "", Token("operators/v", "viewer"));
  ASSERT_EQ(get.status, 200) << get.body;
  EXPECT_EQ(get.Json()["requests_per_minute"], "5");
  EXPECT_EQ(get.Json()["budget_tokens"], "1000");
  // Only the named fields change.
  ASSERT_EQ(Send("PUT", "/v1/agents/a7/limits", R"({"tokens_per_minute":"70"})", admin_).status,
            200);
  auto j = Send("GET", "/v1/agents/a7/limits", "", admin_).Json();
  EXPECT_EQ(j["requests_per_minute"], "5");
  EXPECT_EQ(j["tokens_per_minute"], "70");
  Answer usage = Send("GET", "/v1/agents/a7/usage", "", admin_);
  EXPECT_EQ(usage.status, 200) << usage.body;
  EXPECT_TRUE(usage.Json().is_object());
}

TEST_F(ControlPlaneTest, AVmThroughRestWithItsEventsAndLogs) {
  Headers auth = {{"authorization", "Bearer " + admin_}};
  Answer imp = Send("POST", "/v1/images",
                    absl::StrCat(R"({"image_id":"agent","source_dir":")", image_, R"("})"), admin_);
  ASSERT_EQ(imp.status, 200) << imp.body;
  EXPECT_EQ(imp.Json()["name"], "images/agent");

  Stream events(port_, "/v1/events", auth);
  ASSERT_EQ(events.status(), 200);
  ASSERT_TRUE(events.WaitFor("retry: 3000"));
  Answer created = Send(
      "POST", "/v1/vms",
      R"({"vm_id":"web","spec":{"image":"images/agent","vcpus":1,"memory_mib":256},"start":true})",
      admin_);
  ASSERT_EQ(created.status, 200) << created.body;
  EXPECT_EQ(created.Json()["state"], "RUNNING");

  // Exec streams NDJSON: started, output, the exit.
  Answer exec = Send("POST", "/v1/vms/web:exec",
                     R"({"argv":["sh","-c","echo hello-rest; echo oops >&2; exit 3"]})", admin_);
  ASSERT_EQ(exec.status, 200) << exec.body;
  EXPECT_EQ(exec.Header("content-type"), "application/x-ndjson");
  std::string out, err;
  int exit_code = -1;
  for (absl::string_view line : absl::StrSplit(exec.body, '\n', absl::SkipEmpty())) {
    auto m = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(m.is_object()) << line;
    if (m.contains("stdout_chunk")) out += Bytes(m["stdout_chunk"]);
    if (m.contains("stderr_chunk")) err += Bytes(m["stderr_chunk"]);
    if (m.contains("exit")) exit_code = m["exit"].value("exit_code", 0);
  }
  EXPECT_EQ(out, "hello-rest\n");
  EXPECT_EQ(err, "oops\n");
  EXPECT_EQ(exit_code, 3);

  // Logs as SSE, with the sequence as id.
  Answer logs = Send("GET", "/v1/vms/web/logs?tail_lines=5", "", admin_);
  ASSERT_EQ(logs.status, 200);
  EXPECT_EQ(logs.Header("content-type"), "text/event-stream");
  auto entries = ParseSse(logs.body);
  ASSERT_FALSE(entries.empty()) << logs.body;
  EXPECT_EQ(entries.back().event, "log");
  EXPECT_EQ(entries.back().id, entries.back().data.value("sequence", ""));

  // The lifecycle reached /v1/events.
  ASSERT_TRUE(events.WaitFor("\"state\":\"RUNNING\"")) << events.text();
  auto seen = ParseSse(events.text());
  ASSERT_GE(seen.size(), 2u);
  EXPECT_EQ(seen[0].event, "vm");
  EXPECT_EQ(seen[0].data.value("type", ""), "CREATED");
  EXPECT_EQ(seen[0].data["vm"].value("name", ""), "vms/web");
  EXPECT_NE(events.text().find(": keep-alive"), std::string::npos) << "idle keep-alives";

  // Resuming after the first event gives the rest, from the second on.
  Stream resumed(port_, "/v1/events",
                 {{"authorization", "Bearer " + admin_}, {"last-event-id", seen[0].id}});
  ASSERT_TRUE(resumed.WaitFor("\"state\":\"RUNNING\"")) << resumed.text();
  auto again = ParseSse(resumed.text());
  ASSERT_FALSE(again.empty());
  EXPECT_EQ(again[0].id, seen[1].id);

  Answer stopped = Send("POST", "/v1/vms/web:stop", "", admin_);
  ASSERT_EQ(stopped.status, 200) << stopped.body;
  EXPECT_EQ(stopped.Json()["state"], "STOPPED");
  ASSERT_TRUE(events.WaitFor("\"state\":\"STOPPED\"")) << events.text();
  EXPECT_EQ(Send("DELETE", "/v1/vms/web", "", admin_).status, 200);
  EXPECT_EQ(Send("GET", "/v1/vms/web", "", admin_).status, 404);
}

// The CLI is one client with two ways to the daemons: REST through the
// control plane and gRPC with --direct. The same commands give the same
// output and the same exit codes both ways, successes and errors alike;
// `vm start` (LaunchVm) and `vm cp` go through REST too.
TEST_F(ControlPlaneTest, TheCliAnswersTheSameOverRestAndDirect) {
  const std::map<std::string, std::string> rest = {
      {"CLAWOS_URL", absl::StrCat("http://127.0.0.1:", port_)}, {"CLAWOS_TOKEN", admin_}};
  const std::map<std::string, std::string> direct = {
      {"CLAWOS_DIRECT", "1"},
      {"CLAWOS_LAUNCHER_ADDR", "unix:" + Sub("launcher.sock")},
      {"CLAWOS_ORCHESTRATOR_ADDR", "unix:" + Sub("orch.sock")}};
  auto cli = [](const std::map<std::string, std::string>& env, std::vector<std::string> args) {
    args.insert(args.begin(), kBin + "/clawos");
    return RunCommand(args, "", env, absl::Minutes(5));
  };
  ASSERT_EQ(cli(rest, {"image", "import", image_, "--name", "twin"}).exit_code, 0);
  testing::RunResult start =
      cli(rest, {"vm", "start", "twin", "--image", "twin", "--model", "gpt-4o-mini"});
  ASSERT_EQ(start.exit_code, 0) << start.err;
  EXPECT_TRUE(absl::StrContains(start.err, "WAITING_FOR_AGENT")) << start.err;
  EXPECT_TRUE(absl::StrContains(start.out, "vms/twin RUNNING in ")) << start.out;
  std::string local = Sub("twin.in");
  ASSERT_TRUE(WriteFileAtomic(local, std::string(300000, 'x') + "end\n", 0644).ok());

  const std::vector<std::vector<std::string>> same = {
      {"vm", "status", "twin", "-o", "json"},
      {"vm", "list", "-o", "json"},
      {"image", "list", "-o", "json"},
      {"image", "templates", "-o", "json"},
      {"vm", "exec", "twin", "--", "sh", "-c", "echo out; echo err >&2; exit 5"},
      {"vm", "cp", local, "twin:/workspace/in.txt"},
      {"vm", "exec", "twin", "--", "sha256sum", "/workspace/in.txt"},
      {"vm", "cp", "twin:/workspace/in.txt", "-"},
      {"vm", "cp", "twin:/workspace/nope", "-"},
      {"vm", "status", "nope"},
      {"vm", "start", "twin", "--image", "other"},
      {"vm", "delete", "twin"},
      {"image", "delete", "nope"},
      {"workflow", "get", "nope"},
      {"workflow", "list", "-o", "json"},
  };
  for (const auto& args : same) {
    SCOPED_TRACE(absl::StrJoin(args, " "));
    testing::RunResult a = cli(rest, args), b = cli(direct, args);
    EXPECT_EQ(a.exit_code, b.exit_code) << a.err << " | " << b.err;
    EXPECT_EQ(a.out, b.out);
    EXPECT_EQ(a.err, b.err);
  }
  testing::RunResult five = cli(rest, {"vm", "exec", "twin", "--", "sh", "-c", "exit 5"});
  EXPECT_EQ(five.exit_code, 5) << "the command's code, not a constant";
  testing::RunResult copied = cli(rest, {"vm", "cp", "twin:/workspace/in.txt", "-"});
  EXPECT_EQ(copied.out, std::string(300000, 'x') + "end\n");
  // Over REST an upload is one body within the control plane's limit; the
  // CLI says so before sending, and --direct streams it.
  std::string big = Sub("big.bin");
  ASSERT_TRUE(WriteFileAtomic(big, std::string(900000, 'y'), 0644).ok());
  testing::RunResult over = cli(rest, {"vm", "cp", big, "twin:/workspace/big"});
  EXPECT_EQ(over.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(over.err, "RESOURCE_EXHAUSTED")) << over.err;
  EXPECT_TRUE(absl::StrContains(over.err, "--direct")) << over.err;
  EXPECT_EQ(cli(direct, {"vm", "cp", big, "twin:/workspace/big"}).exit_code, 0);
  EXPECT_EQ(cli(rest, {"vm", "delete", "--force", "twin"}).exit_code, 0);
}

TEST_F(ControlPlaneTest, MetricsCountRequestsByRouteAndStatus) {
  Send("GET", "/v1/vms");  // 401
  // A request is counted just after its answer went out: ask until it shows.
  const std::string counted = R"(clawos_controlplane_requests_total{code="401",route="/v1/vms"})";
  Answer m;
  testing::Eventually([&] {
    m = Send("GET", "/metrics");
    return m.status == 200 && m.body.find(counted) != std::string::npos;
  });
  ASSERT_EQ(m.status, 200) << "no token on loopback";
  EXPECT_NE(m.body.find(counted), std::string::npos) << m.body.substr(0, 2000);
  EXPECT_NE(m.body.find("process_resident_memory_bytes"), std::string::npos);
  // What a proxy forwarded needs a token, whatever proxy it is.
  for (const char* h : {"x-forwarded-for", "forwarded", "x-real-ip"}) {
    Answer fwd = Send("GET", "/metrics", "", "", {{h, "203.0.113.9"}});
    EXPECT_EQ(fwd.status, 401) << h << ": " << fwd.body;
    EXPECT_EQ(fwd.Json()["code"], 16) << fwd.body;
  }
  EXPECT_EQ(
      Send("GET", "/metrics", "", Token("operators/prom", "viewer"), {{"x-forwarded-for", "x"}})
          .status,
      200);
  EXPECT_EQ(
      Send("GET", "/metrics", "", Token("agents/a1", "agent"), {{"x-forwarded-for", "x"}}).status,
      403);
}

// The nginx config `clawos up` ships (deploy/nginx/clawos.conf, rendered by
// cli/stack_nginx) in front of this control plane: /metrics is not routed,
// the API is; on loopback /metrics still answers.
TEST_F(ControlPlaneTest, MetricsAreNotServedThroughNginx) {
  const std::string nginx = cli::FindNginx();
  if (nginx.empty()) GTEST_SKIP() << "SKIPPED: nginx is not installed";
  cli::StackPaths p;
  p.offset = port_ - 8080;
  p.state = Sub("stack");
  p.logs = Sub("stack/logs");
  p.tls = Sub("stack/tls");
  p.nginx = Sub("stack/nginx");
  ASSERT_TRUE(MakeDirs(p.logs, 0700).ok());
  ASSERT_TRUE(cli::EnsureTlsCert(p.tls).ok());
  auto conf = cli::RenderNginx(p);
  ASSERT_TRUE(conf.ok()) << conf.status();
  Daemon front({nginx, "-p", p.nginx, "-c", *conf, "-g", "daemon off;"}, Sub("nginx.log"));
  const std::string base = absl::StrCat("https://localhost:", p.port(8443));
  auto curl = [&](const std::string& path, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {
        "/usr/bin/curl",       "-s",          "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
        p.tls + "/clawos.crt", "--path-as-is"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(base + path);
    return RunCommand(argv).out;
  };
  ASSERT_TRUE(testing::Eventually([&] { return curl("/healthz") == "200"; }))
      << front.Log() << curl("/healthz");
  EXPECT_EQ(curl("/v1/vms", {"-H", "Authorization: Bearer " + admin_}), "200")
      << "the API is routed";
  for (const char* path : {"/metrics", "/metrics?format=text", "//metrics", "/%6Detrics",
                           "/./metrics", "/v1/../metrics", "/metrics/"}) {
    EXPECT_EQ(curl(path), "404") << path;
    EXPECT_EQ(curl(path, {"-H", "Authorization: Bearer " + admin_}), "404") << path;
  }
  EXPECT_EQ(Send("GET", "/metrics").status, 200) << "loopback, direct";
}

// A viewer's token revoked while events keep flowing: the stream re-checks
// on its timer, not only when idle, and ends within the bound (revocations
// polled every 5 s + --stream-recheck 1 s). Its control plane sends
// keep-alives only every 30 s, so only the timer can end the stream in time.
TEST_F(ControlPlaneTest, ARevokedTokenEndsABusyStream) {
  const int port = testing::FreeLoopbackPort();
  Daemon busy(CpArgv(port, "cp-busy", {"--sse-keepalive", "30s", "--stream-recheck", "1s"}),
              Sub("cp-busy.log"));
  ASSERT_TRUE(busy.WaitForLog("\"serving\"")) << busy.Log();
  Answer imp = Send("POST", "/v1/images",
                    absl::StrCat(R"({"image_id":"agent","source_dir":")", image_, R"("})"), admin_);
  ASSERT_TRUE(imp.status == 200 || imp.status == 409) << imp.body;
  std::string viewer = Token("operators/busy-viewer", "viewer");
  Stream events(port, "/v1/events", {{"authorization", "Bearer " + viewer}});
  ASSERT_EQ(events.status(), 200);
  ASSERT_TRUE(events.WaitFor("retry: 3000"));
  // VMs created and deleted without a pause (through the suite's control
  // plane): many events a second.
  std::atomic<bool> stop{false};
  std::atomic<int> cycles{0};
  std::thread churn([&] {
    for (int i = 0; !stop; ++i) {
      std::string name = absl::StrCat("churn-", i % 4);
      Send("POST", "/v1/vms",
           absl::StrCat(R"({"vm_id":")", name,
                        R"(","spec":{"image":"images/agent","vcpus":1,"memory_mib":128}})"),
           admin_);
      Send("DELETE", "/v1/vms/" + name + "?force=true", "", admin_);
      ++cycles;
    }
  });
  ASSERT_TRUE(events.WaitFor("churn-")) << events.text();
  auto r = RunCommand({kBin + "/clawos", "token", "revoke", "--subject", "operators/busy-viewer"},
                      "", {{"CLAWOS_IDENTITY_ADDR", "unix:" + Sub("id.sock")}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const absl::Time revoked = absl::Now();
  const int cycles_at_revoke = cycles;
  bool ended = events.WaitForEnd(absl::Seconds(30));
  const absl::Duration took = absl::Now() - revoked;
  const int cycles_until_end = cycles - cycles_at_revoke;
  stop = true;
  churn.join();
  ASSERT_TRUE(ended) << "a busy stream outlived its revoked token";
  EXPECT_LT(took, absl::Seconds(20)) << "5 s poll + 1 s recheck, with room for a slow machine";
  EXPECT_GT(cycles_until_end, 0) << "events kept flowing while the stream was open";
  EXPECT_EQ(events.text().find(": keep-alive"), std::string::npos) << "it never idled";
  auto seen = ParseSse(events.text());
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().event, "error") << events.text().substr(events.text().size() - 500);
  EXPECT_EQ(seen.back().data["code"], 16);
  for (int i = 0; i < 4; ++i)
    Send("DELETE", absl::StrCat("/v1/vms/churn-", i, "?force=true"), "", admin_);
}

// The same for an exec stream whose command never stops writing: the
// stream's timer (not a keep-alive, every 30 s here) ends it.
TEST_F(ControlPlaneTest, ARevokedTokenEndsABusyExecStream) {
  const int port = testing::FreeLoopbackPort();
  Daemon busy(CpArgv(port, "cp-exec", {"--sse-keepalive", "30s", "--stream-recheck", "1s"}),
              Sub("cp-exec.log"));
  ASSERT_TRUE(busy.WaitForLog("\"serving\"")) << busy.Log();
  Answer imp = Send("POST", "/v1/images",
                    absl::StrCat(R"({"image_id":"agent","source_dir":")", image_, R"("})"), admin_);
  ASSERT_TRUE(imp.status == 200 || imp.status == 409) << imp.body;
  Answer made = Send(
      "POST", "/v1/vms",
      R"({"vm_id":"ticker","spec":{"image":"images/agent","vcpus":1,"memory_mib":256},"start":true})",
      admin_);
  ASSERT_EQ(made.status, 200) << made.body;
  std::string admin = Token("operators/exec-admin", "admin");
  Stream exec(port, "/v1/vms/ticker:exec",
              {{"authorization", "Bearer " + admin}, {"content-type", "application/json"}}, "POST",
              R"({"argv":["sh","-c","while :; do echo tick; sleep 0.1; done"],"timeout":"120s"})");
  ASSERT_EQ(exec.status(), 200);
  ASSERT_TRUE(exec.WaitFor("stdout_chunk")) << exec.text();
  auto r = RunCommand({kBin + "/clawos", "token", "revoke", "--subject", "operators/exec-admin"},
                      "", {{"CLAWOS_IDENTITY_ADDR", "unix:" + Sub("id.sock")}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const absl::Time revoked = absl::Now();
  ASSERT_TRUE(exec.WaitForEnd(absl::Seconds(30))) << "a busy exec outlived its revoked token";
  EXPECT_LT(absl::Now() - revoked, absl::Seconds(20));
  std::vector<std::string> lines = absl::StrSplit(exec.text(), '\n', absl::SkipEmpty());
  ASSERT_FALSE(lines.empty());
  auto last = nlohmann::json::parse(lines.back(), nullptr, false);
  EXPECT_EQ(last["error"]["code"], 16) << lines.back();
  EXPECT_EQ(Send("DELETE", "/v1/vms/ticker?force=true", "", admin_).status, 200);
}

// Viewers cannot take every stream: a second control plane with small caps.
TEST_F(ControlPlaneTest, StreamCapsKeepRoomForAdmins) {
  const int port = testing::FreeLoopbackPort();
  Daemon cp2(CpArgv(port, "cp2",
                    {"--sse-keepalive", "1s", "--max-streams", "4", "--max-viewer-streams", "2",
                     "--max-streams-per-viewer", "1"}),
             Sub("cp2.log"));
  ASSERT_TRUE(cp2.WaitForLog("\"serving\"")) << cp2.Log();
  auto open = [&](const std::string& token) {
    return std::make_unique<Stream>(port, "/v1/events",
                                    Headers{{"authorization", "Bearer " + token}});
  };
  auto refused = [&](Stream& s, const std::string& flag) {
    EXPECT_EQ(s.status(), 429);
    ASSERT_TRUE(s.WaitForEnd(absl::Seconds(30)));
    auto j = nlohmann::json::parse(s.text(), nullptr, false);
    EXPECT_EQ(j["code"], 8) << s.text();
    EXPECT_NE(s.text().find(flag), std::string::npos) << s.text();
  };
  std::string v1 = Token("operators/cap-v1", "viewer"), v2 = Token("operators/cap-v2", "viewer"),
              v3 = Token("operators/cap-v3", "viewer");
  auto a = open(v1);
  ASSERT_EQ(a->status(), 200);
  refused(*open(v1), "--max-streams-per-viewer");
  auto b = open(v2);
  ASSERT_EQ(b->status(), 200);
  refused(*open(v3), "--max-viewer-streams");
  // The admins' share is untouched; past it, the global cap.
  auto c = open(admin_), d = open(admin_);
  EXPECT_EQ(c->status(), 200);
  EXPECT_EQ(d->status(), 200);
  refused(*open(admin_), "--max-streams");
  // Unary calls still find a connection, viewers' too.
  Answer list = testing::HttpCall(port, "GET", "/v1/vms", "", {{"authorization", "Bearer " + v3}});
  EXPECT_EQ(list.status, 200) << list.body;
  Answer full =
      testing::HttpCall(port, "GET", "/v1/events", "", {{"authorization", "Bearer " + v3}});
  EXPECT_EQ(full.Header("retry-after"), "5");
  // A viewer that leaves gives its place back (noticed at the next keep-alive).
  a.reset();
  std::unique_ptr<Stream> again;
  EXPECT_TRUE(testing::Eventually([&] {
    again = open(v3);
    return again->status() == 200;
  }));
}

TEST_F(ControlPlaneTest, AWorkflowThroughRest) {
  Answer imp = Send("POST", "/v1/images",
                    absl::StrCat(R"({"image_id":"agent","source_dir":")", image_, R"("})"), admin_);
  ASSERT_TRUE(imp.status == 200 || imp.status == 409) << imp.body;
  std::string viewer = Token("operators/vera", "viewer");

  // A bad spec: 400 naming the line and the field; nothing is created.
  nlohmann::json bad = {{"spec", "agents: {w: {}}\nsteps:\n  - {id: a, agent: nobody, exec: x}\n"},
                        {"source_name", "flow.yaml"}};
  Answer refused = Send("POST", "/v1/workflows", bad.dump(), admin_);
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_EQ(refused.Json()["message"], "flow.yaml:3: steps[0].agent: unknown agent \"nobody\"");
  EXPECT_EQ(Send("POST", "/v1/workflows", bad.dump(), viewer).status, 403);
  EXPECT_EQ(Send("GET", "/v1/workflows/nope", "", viewer).status, 404);

  nlohmann::json good = {{"spec",
                          "agents: {w: {memory_mib: 256, env: {SECRETISH: x}}}\nsteps:\n  - {id: "
                          "a, agent: w, exec: 'echo rest'}\n"},
                         {"workflow_id", "via-rest"}};
  Answer made = Send("POST", "/v1/workflows", good.dump(), admin_);
  ASSERT_EQ(made.status, 200) << made.body;
  EXPECT_EQ(made.Json()["name"], "workflows/via-rest");
  // Its events until the final state; the stream ends by itself.
  Stream events(port_, "/v1/workflows/via-rest/events", {{"authorization", "Bearer " + viewer}});
  ASSERT_EQ(events.status(), 200);
  ASSERT_TRUE(events.WaitForEnd(absl::Minutes(3))) << events.text();
  std::vector<SseEvent> evs = ParseSse(events.text());
  ASSERT_FALSE(evs.empty()) << events.text();
  EXPECT_EQ(evs.back().event, "workflow");
  EXPECT_EQ(evs.back().data["workflow"]["state"], "SUCCEEDED") << events.text();
  Answer unknown = Send("GET", "/v1/workflows/nope/events", "", viewer);
  EXPECT_EQ(unknown.status, 404) << "a plain error answer, not a stream: " << unknown.body;
  EXPECT_EQ(unknown.Json()["code"], 5) << unknown.body;

  // Viewers see the state but not the spec (prompts, env values) nor outputs.
  Answer seen = Send("GET", "/v1/workflows/via-rest", "", viewer);
  ASSERT_EQ(seen.status, 200);
  EXPECT_FALSE(seen.Json().contains("spec")) << seen.body;
  EXPECT_EQ(seen.Json()["steps"][0]["state"], "SUCCEEDED");
  EXPECT_TRUE(Send("GET", "/v1/workflows/via-rest", "", admin_).Json().contains("spec"));
  EXPECT_EQ(Send("GET", "/v1/workflows/via-rest/steps/a/output", "", viewer).status, 403);
  Answer out = Send("GET", "/v1/workflows/via-rest/steps/a/output", "", admin_);
  ASSERT_EQ(out.status, 200) << out.body;
  EXPECT_EQ(out.Json()["stdout_text"], "rest\n");
  Answer list = Send("GET", "/v1/workflows?filter=state%3DSUCCEEDED", "", viewer);
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(list.Json()["workflows"][0]["name"], "workflows/via-rest");
  Answer cancel = Send("POST", "/v1/workflows/via-rest:cancel", "", admin_);
  EXPECT_EQ(cancel.status, 200) << cancel.body;
  EXPECT_EQ(cancel.Json()["state"], "SUCCEEDED");
}

}  // namespace
}  // namespace clawos
