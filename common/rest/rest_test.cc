// Path templates, bindings read from the real protos, and the REST ↔ gRPC
// mapping both ways (the control plane's and the CLI's).
#include <gtest/gtest.h>

#include "clawos/launcher/v1/launcher.grpc.pb.h"
#include "clawos/orchestrator/v1/orchestrator.grpc.pb.h"
#include "clawos/proxy/v1/proxy_admin.grpc.pb.h"
#include "common/rest/binding.h"
#include "common/rest/path_template.h"
#include "common/rest/transcode.h"

namespace clawos::rest {
namespace {

namespace lpb = ::clawos::launcher::v1;
namespace ppb = ::clawos::proxy::v1;
namespace opb = ::clawos::orchestrator::v1;

const google::protobuf::ServiceDescriptor* LauncherService() {
  return lpb::Vm::descriptor()->file()->FindServiceByName("LauncherService");
}

PathTemplate T(const std::string& s) {
  auto t = PathTemplate::Parse(s);
  EXPECT_TRUE(t.ok()) << s << ": " << t.status();
  return t.ok() ? *t : PathTemplate();
}

TEST(PathTemplate, ParsesAndMatchesVariablesAndVerbs) {
  PathTemplate t = T("/v1/{name=vms/*}:start");
  EXPECT_EQ(t.verb(), "start");
  auto m = t.Match("/v1/vms/c1:start");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->size(), 1u);
  EXPECT_EQ((*m)[0], std::make_pair(std::string("name"), std::string("vms/c1")));
  EXPECT_FALSE(t.Match("/v1/vms/c1"));
  EXPECT_FALSE(t.Match("/v1/vms/c1:stop"));
  EXPECT_FALSE(t.Match("/v1/images/c1:start"));
  EXPECT_FALSE(t.Match("/v1/vms/a/b:start"));

  PathTemplate l = T("/v1/{limit.name=agents/*/limits}");
  auto lm = l.Match("/v1/agents/a-1.x_y/limits");
  ASSERT_TRUE(lm);
  EXPECT_EQ((*lm)[0].first, "limit.name");
  EXPECT_EQ((*lm)[0].second, "agents/a-1.x_y/limits");

  PathTemplate two = T("/v1/{workflow=workflows/*}/steps/{step}/output");
  auto tm = two.Match("/v1/workflows/w1/steps/s1/output");
  ASSERT_TRUE(tm);
  EXPECT_EQ((*tm)[0].second, "workflows/w1");
  EXPECT_EQ((*tm)[1], std::make_pair(std::string("step"), std::string("s1")));

  PathTemplate tail = T("/v1/{path=files/**}");
  auto pm = tail.Match("/v1/files/a/b/c");
  ASSERT_TRUE(pm);
  EXPECT_EQ((*pm)[0].second, "files/a/b/c");
}

TEST(PathTemplate, HostileValuesMatchNothing) {
  PathTemplate t = T("/v1/{name=vms/*}");
  for (const char* p : {"/v1/vms/bad name", "/v1/vms/", "/v1/vms/a:b", "/v1/vms/..%2f",
                        "/v1/vms/\xc3\xa9", "/v1/vms", "v1/vms/a", ""}) {
    EXPECT_FALSE(t.Match(p)) << p;
  }
  EXPECT_FALSE(t.Match("/v1/vms/" + std::string(129, 'a')));
  EXPECT_TRUE(t.Match("/v1/vms/" + std::string(128, 'a')));
}

TEST(PathTemplate, RefusesMalformedTemplates) {
  for (const char* s : {"", "v1/x", "/v1/{name", "/v1/{na me}", "/v1/{name=vms/*", "/v1/**/x",
                        "/v1/{1a}", "/v1/a b"}) {
    EXPECT_FALSE(PathTemplate::Parse(s).ok()) << s;
  }
}

TEST(PathTemplate, ExpandsWhatItMatches) {
  PathTemplate t = T("/v1/{name=vms/*}:exec");
  auto p = t.Expand({{"name", "vms/c1"}});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, "/v1/vms/c1:exec");
  EXPECT_FALSE(t.Expand({{"name", "images/c1"}}).ok()) << "the literal must fit";
  EXPECT_FALSE(t.Expand({{"name", "vms/a b"}}).ok());
  EXPECT_FALSE(t.Expand({}).ok()) << "a missing value";
  std::vector<std::pair<std::string, const PathTemplate::Variable*>> params;
  PathTemplate limits = T("/v1/{limit.name=agents/*/limits}");
  EXPECT_EQ(limits.OpenApiPath(&params), "/v1/agents/{name}/limits");
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].second->field_path, "limit.name");
}

TEST(PathTemplate, TheMostSpecificTemplateWins) {
  EXPECT_TRUE(T("/v1/vms/special").MoreSpecificThan(T("/v1/vms/{name}")));
  EXPECT_FALSE(T("/v1/vms/{name}").MoreSpecificThan(T("/v1/vms/special")));
  EXPECT_TRUE(T("/v1/{name=vms/*}").MoreSpecificThan(T("/v1/{name=**}")));
  EXPECT_TRUE(T("/v1/{name=vms/*}:start").MoreSpecificThan(T("/v1/{name=vms/*}")));
}

std::vector<Binding> Launcher() {
  auto b = BindingsOf({LauncherService(), ppb::Limit::descriptor()->file()->service(0),
                       opb::Workflow::descriptor()->file()->service(0)});
  EXPECT_TRUE(b.ok()) << b.status();
  return b.ok() ? *b : std::vector<Binding>{};
}

TEST(Bindings, TheProtosDeclareTheRoutes) {
  RouteTable routes(Launcher());
  auto m = routes.Find("POST", "/v1/vms/c1:start");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->binding->method->name(), "StartVm");
  EXPECT_EQ(m->binding->access, api::v1::ADMIN);
  EXPECT_EQ(m->binding->timeout, absl::Seconds(600));
  auto logs = routes.Find("GET", "/v1/vms/c1/logs");
  ASSERT_TRUE(logs);
  EXPECT_EQ(logs->binding->stream.format(), api::v1::RestStream::SSE);
  EXPECT_EQ(logs->binding->stream.id_field(), "sequence");
  auto exec = routes.Find("POST", "/v1/vms/c1:exec");
  ASSERT_TRUE(exec);
  EXPECT_EQ(exec->binding->stream.format(), api::v1::RestStream::NDJSON);
  std::vector<std::string> allowed;
  EXPECT_FALSE(routes.Find("PATCH", "/v1/vms", &allowed));
  EXPECT_EQ(allowed, (std::vector<std::string>{"GET", "POST"}));
  allowed.clear();
  EXPECT_FALSE(routes.Find("GET", "/v1/nothing", &allowed));
  EXPECT_TRUE(allowed.empty());
  // Methods without a rule are not routed.
  for (const Binding& b : routes.bindings()) EXPECT_NE(b.method->name(), "WatchVms");
}

TEST(Transcode, PathQueryAndBodyMakeTheRequest) {
  RouteTable routes(Launcher());
  std::vector<std::pair<std::string, std::string>> q = {{"force", "true"}, {"colour", "red"}};
  auto del = routes.Find("DELETE", "/v1/vms/c1");
  ASSERT_TRUE(del);
  lpb::DeleteVmRequest dr;
  ASSERT_TRUE(RequestFromHttp(*del->binding, del->values, {"", &q, ""}, &dr).ok());
  EXPECT_EQ(dr.name(), "vms/c1");
  EXPECT_TRUE(dr.force()) << "from the query; an unknown parameter is ignored";

  auto list = routes.Find("GET", "/v1/vms");
  lpb::ListVmsRequest lr;
  std::vector<std::pair<std::string, std::string>> bad = {{"page_size", "lots"}};
  absl::Status s = RequestFromHttp(*list->binding, list->values, {"", &bad, ""}, &lr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "query parameter page_size must be an integer");
  std::vector<std::pair<std::string, std::string>> notutf8 = {{"filter", "\xff"}};
  EXPECT_FALSE(RequestFromHttp(*list->binding, list->values, {"", &notutf8, ""}, &lr).ok());

  auto start = routes.Find("POST", "/v1/vms/c1:start");
  lpb::StartVmRequest sr;
  ASSERT_TRUE(
      RequestFromHttp(*start->binding, start->values, {R"({"cold":true})", nullptr, ""}, &sr).ok());
  EXPECT_EQ(sr.name(), "vms/c1");
  EXPECT_TRUE(sr.cold());
  lpb::StartVmRequest other;
  s = RequestFromHttp(*start->binding, start->values, {R"({"name":"vms/c2"})", nullptr, ""},
                      &other);
  EXPECT_EQ(s.message(), "the body's name \"vms/c2\" is not vms/c1");
  lpb::StartVmRequest unknown;
  s = RequestFromHttp(*start->binding, start->values, {R"({"colour":1})", nullptr, ""}, &unknown);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("colour"), std::string::npos) << s;

  auto logs = routes.Find("GET", "/v1/vms/c1/logs");
  lpb::StreamVmLogsRequest lg;
  ASSERT_TRUE(RequestFromHttp(*logs->binding, logs->values, {"", nullptr, "42"}, &lg).ok());
  EXPECT_EQ(lg.after_sequence(), 42) << "Last-Event-ID resumes";
  EXPECT_EQ(RequestFromHttp(*logs->binding, logs->values, {"", nullptr, "x"}, &lg).message(),
            "Last-Event-ID must be an event id (an integer)");
}

TEST(Transcode, ABodyFieldGivesTheUpdateMaskAndDefaultsApply) {
  RouteTable routes(Launcher());
  auto put = routes.Find("PUT", "/v1/agents/a1/limits");
  ASSERT_TRUE(put);
  ppb::UpdateLimitRequest r;
  ASSERT_TRUE(RequestFromHttp(*put->binding, put->values,
                              {R"({"requests_per_minute":"5","budgetTokens":"9"})", nullptr, ""},
                              &r)
                  .ok());
  EXPECT_EQ(r.limit().name(), "agents/a1/limits");
  EXPECT_EQ(r.limit().requests_per_minute(), 5);
  EXPECT_EQ(r.update_mask().paths_size(), 2);
  EXPECT_TRUE(r.allow_missing()) << "(clawos.api.v1.rest_default)";
  ppb::UpdateLimitRequest empty;
  EXPECT_EQ(RequestFromHttp(*put->binding, put->values, {"{}", nullptr, ""}, &empty).message(),
            "the body sets no field");
  ppb::UpdateLimitRequest named;
  EXPECT_EQ(RequestFromHttp(*put->binding, put->values,
                            {R"({"name":"agents/b2/limits"})", nullptr, ""}, &named)
                .message(),
            "the body's name \"agents/b2/limits\" is not agents/a1/limits");
  std::vector<std::pair<std::string, std::string>> q = {{"allow_missing", "false"}};
  ppb::UpdateLimitRequest strict;
  ASSERT_TRUE(
      RequestFromHttp(*put->binding, put->values, {R"({"budget_tokens":"1"})", &q, ""}, &strict)
          .ok());
  EXPECT_FALSE(strict.allow_missing()) << "a value given wins over the default";

  auto usage = routes.Find("GET", "/v1/agents/a1/usage");
  ASSERT_TRUE(usage);
  std::vector<std::pair<std::string, std::string>> window = {
      {"start_time", "2026-01-01T00:00:00Z"}};
  ppb::QueryUsageRequest u;
  ASSERT_TRUE(RequestFromHttp(*usage->binding, usage->values, {"", &window, ""}, &u).ok());
  EXPECT_EQ(u.subject(), "agents/a1");
  EXPECT_EQ(u.start_time().seconds(), 1767225600);
  std::vector<std::pair<std::string, std::string>> yesterday = {{"start_time", "yesterday"}};
  EXPECT_EQ(RequestFromHttp(*usage->binding, usage->values, {"", &yesterday, ""}, &u).message(),
            "query parameter start_time must be a Timestamp (RFC 3339)");
}

TEST(Transcode, TheClientSideMapsBack) {
  RouteTable routes(Launcher());
  lpb::ExecVmRequest e;
  e.set_name("vms/c1");
  e.add_argv("echo");
  e.mutable_timeout()->set_seconds(5);
  const Binding* exec =
      FindBinding(routes.bindings(), LauncherService()->FindMethodByName("ExecVm"));
  ASSERT_NE(exec, nullptr);
  auto call = RequestToHttp(*exec, e);
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->verb, "POST");
  EXPECT_EQ(call->path, "/v1/vms/c1:exec");
  EXPECT_EQ(call->body, R"({"argv":["echo"],"timeout":"5s"})");
  // And the server side reads back the same request.
  auto m = routes.Find(call->verb, "/v1/vms/c1:exec");
  lpb::ExecVmRequest back;
  ASSERT_TRUE(RequestFromHttp(*m->binding, m->values, {call->body, nullptr, ""}, &back).ok());
  EXPECT_EQ(back.SerializeAsString(), e.SerializeAsString());

  lpb::ListVmsRequest l;
  l.set_page_size(5);
  l.set_filter("state=RUNNING");
  auto lc = RequestToHttp(
      *FindBinding(routes.bindings(), LauncherService()->FindMethodByName("ListVms")), l);
  ASSERT_TRUE(lc.ok());
  EXPECT_EQ(lc->path, "/v1/vms");
  EXPECT_EQ(lc->query, "filter=state%3DRUNNING&page_size=5");
  EXPECT_TRUE(lc->body.empty());

  // A repeated field goes out as a repeated parameter and comes back whole;
  // a singular one repeated takes the last value.
  lpb::StreamVmLogsRequest logs;
  logs.set_name("vms/a");
  logs.add_sources(lpb::LOG_SOURCE_AGENT);
  logs.add_sources(lpb::LOG_SOURCE_SERIAL_CONSOLE);
  const Binding* lb =
      FindBinding(routes.bindings(), LauncherService()->FindMethodByName("StreamVmLogs"));
  auto out = RequestToHttp(*lb, logs);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->query, "sources=LOG_SOURCE_AGENT&sources=LOG_SOURCE_SERIAL_CONSOLE");
  auto found = routes.Find("GET", out->path);
  ASSERT_TRUE(found);
  std::vector<std::pair<std::string, std::string>> params = {
      {"sources", "LOG_SOURCE_AGENT"},
      {"tail_lines", "1"},
      {"sources", "LOG_SOURCE_SERIAL_CONSOLE"},
      {"tail_lines", "7"}};
  lpb::StreamVmLogsRequest logs_back;
  ASSERT_TRUE(RequestFromHttp(*found->binding, found->values, {"", &params, ""}, &logs_back).ok());
  EXPECT_EQ(logs_back.sources_size(), 2);
  EXPECT_EQ(logs_back.sources(1), lpb::LOG_SOURCE_SERIAL_CONSOLE);
  EXPECT_EQ(logs_back.tail_lines(), 7);

  lpb::GetVmRequest bad;
  bad.set_name("images/x");
  EXPECT_FALSE(
      RequestToHttp(*FindBinding(routes.bindings(), LauncherService()->FindMethodByName("GetVm")),
                    bad)
          .ok());
}

TEST(Transcode, HiddenFieldsAreClearedForLowerAccess) {
  RouteTable routes(Launcher());
  auto get = routes.Find("GET", "/v1/workflows/w1");
  ASSERT_TRUE(get);
  opb::Workflow w;
  w.set_name("workflows/w1");
  w.set_spec("secret: prompt");
  opb::Workflow copy = w;
  auto viewer = ResponseToJson(*get->binding, api::v1::VIEWER, &w);
  ASSERT_TRUE(viewer.ok());
  EXPECT_EQ(*viewer, R"({"name":"workflows/w1"})");
  auto admin = ResponseToJson(*get->binding, api::v1::ADMIN, &copy);
  EXPECT_NE(admin->find("secret"), std::string::npos);
  // Nested: a stream's event holds the workflow.
  opb::WorkflowEvent ev;
  ev.mutable_workflow()->set_spec("secret");
  ClearHidden(api::v1::VIEWER, &ev);
  EXPECT_TRUE(ev.workflow().spec().empty());
  opb::ListWorkflowsResponse list;
  list.add_workflows()->set_spec("secret");
  ClearHidden(api::v1::VIEWER, &list);
  EXPECT_TRUE(list.workflows(0).spec().empty());
}

}  // namespace
}  // namespace clawos::rest
