// The control plane's plain parts, without the network: route matching, the
// event ring, the error mapping, the stream caps, who may read /metrics
// without a token, REST calls as daemon requests.
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/utf8.h"
#include "controlplane/errors.h"
#include "controlplane/event_hub.h"
#include "controlplane/operator_auth.h"
#include "controlplane/requests.h"
#include "controlplane/routes.h"
#include "controlplane/stream_slots.h"

namespace clawos::controlplane {
namespace {

TEST(RoutesTest, PatternsParamsAndVerbs) {
  auto m = MatchRoute("POST", "/v1/vms/web-1:start");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->route->op, Op::kStartVm);
  EXPECT_EQ(m->params.at("name"), "web-1");
  m = MatchRoute("GET", "/v1/vms/web-1");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->route->op, Op::kGetVm);
  m = MatchRoute("GET", "/v1/vms/a.b_c/logs");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->route->op, Op::kVmLogs);
  EXPECT_EQ(m->params.at("name"), "a.b_c");
  m = MatchRoute("PUT", "/v1/agents/a7/limits");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->route->access, Access::kAdmin);
  EXPECT_EQ(MatchRoute("GET", "/v1/agents/a7/limits")->route->access, Access::kViewer);
  EXPECT_EQ(MatchRoute("GET", "/healthz")->route->access, Access::kPublic);
  EXPECT_EQ(MatchRoute("GET", "/metrics")->route->access, Access::kLocal);
}

TEST(StreamSlotsTest, ViewersCannotTakeTheAdminsShare) {
  StreamSlots slots({.max_streams = 6, .max_viewer_streams = 3, .max_streams_per_viewer = 2});
  std::vector<StreamSlots::Slot> held;
  auto take = [&](bool viewer, const std::string& who) {
    auto s = slots.Acquire(viewer, who);
    if (s.ok()) held.push_back(*std::move(s));
    return s.status();
  };
  EXPECT_TRUE(take(true, "operators/v1").ok());
  EXPECT_TRUE(take(true, "operators/v1").ok());
  absl::Status one = take(true, "operators/v1");
  EXPECT_EQ(one.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(one.message().find("--max-streams-per-viewer"), std::string::npos) << one;
  EXPECT_TRUE(take(true, "operators/v2").ok());
  absl::Status all = take(true, "operators/v3");
  EXPECT_EQ(all.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(all.message().find("--max-viewer-streams"), std::string::npos) << all;
  EXPECT_EQ(slots.open_viewer(), 3);
  // The admins still have the rest, then the global cap holds for them too.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(take(false, "operators/admin").ok()) << i;
  absl::Status full = take(false, "operators/admin");
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(full.message().find("--max-streams"), std::string::npos) << full;
  // A stream that ends gives its place back.
  held.erase(held.begin());
  EXPECT_TRUE(take(true, "operators/v3").ok()) << "one viewer slot came back";
  held.clear();
  EXPECT_EQ(slots.open(), 0);
  EXPECT_EQ(slots.open_viewer(), 0);
  // Moved slots release once.
  {
    auto a = slots.Acquire(true, "x").value();
    StreamSlots::Slot b = std::move(a);
    EXPECT_EQ(slots.open(), 1);
  }
  EXPECT_EQ(slots.open(), 0);
}

TEST(StreamSlotsTest, LimitsMustLeaveRoom) {
  EXPECT_TRUE(ValidateStreamLimits({}, 512).ok());
  EXPECT_FALSE(ValidateStreamLimits({.max_streams = 512}, 512).ok()) << "no room for unary calls";
  EXPECT_FALSE(ValidateStreamLimits({.max_streams = 100, .max_viewer_streams = 200}, 512).ok());
  EXPECT_FALSE(ValidateStreamLimits({.max_streams_per_viewer = 0}, 512).ok());
  EXPECT_FALSE(
      ValidateStreamLimits({.max_viewer_streams = 8, .max_streams_per_viewer = 9}, 512).ok());
}

TEST(OperatorAuthTest, LoopbackAndForwarding) {
  for (const char* h : {"127.0.0.1", "127.3.4.5", "localhost", "::1", "[::1]", "LOCALHOST"}) {
    EXPECT_TRUE(IsLoopbackHost(h)) << h;
  }
  for (const char* h :
       {"0.0.0.0", "", "10.0.0.1", "::", "128.0.0.1", "localhost.evil", "1.127.0.0"}) {
    EXPECT_FALSE(IsLoopbackHost(h)) << h;
  }
  http::Request r;
  EXPECT_FALSE(IsForwarded(r));
  for (const char* h : {"X-Forwarded-For", "forwarded", "X-Real-IP"}) {
    r.headers = {{"host", "x"}, {h, ""}};
    EXPECT_TRUE(IsForwarded(r)) << h;
  }
}

TEST(RoutesTest, WhatDoesNotMatch) {
  for (const char* path :
       {"/v1/vms/web:reboot", "/v1/vms/:start", "/v1/vms/a:b:start", "/v1/vms/", "/v1/vms/a/b",
        "/v1/vms/a b", "/v1/vms/a%2fb", "/v2/vms", "/v1/vmsx", "/v1/vms/x/../y"}) {
    EXPECT_FALSE(MatchRoute("GET", path)) << path;
    EXPECT_FALSE(MatchRoute("POST", path)) << path;
  }
  EXPECT_FALSE(MatchRoute("GET", "/v1/vms/" + std::string(129, 'a')));
  EXPECT_TRUE(MatchRoute("GET", "/v1/vms/" + std::string(128, 'a')));
}

TEST(RoutesTest, WrongMethodListsTheAllowedOnes) {
  std::vector<std::string> allowed;
  EXPECT_FALSE(MatchRoute("PATCH", "/v1/vms", &allowed));
  EXPECT_EQ(allowed, (std::vector<std::string>{"GET", "POST"}));
  allowed.clear();
  EXPECT_FALSE(MatchRoute("HEAD", "/healthz", &allowed));
  EXPECT_EQ(allowed, (std::vector<std::string>{"GET"}));
  allowed.clear();
  EXPECT_FALSE(MatchRoute("GET", "/v1/nothing", &allowed));
  EXPECT_TRUE(allowed.empty());
}

TEST(EventHubTest, IdsGrowAndResumeFromAnId) {
  EventHub hub(3, 100);
  EXPECT_EQ(hub.Last(), 99);
  EXPECT_EQ(hub.Publish("vm", "{}"), 100);
  EXPECT_EQ(hub.Publish("vm", "{}"), 101);
  EXPECT_EQ(hub.Publish("alert", "{}"), 102);
  auto b = hub.Since(100, absl::ZeroDuration());
  ASSERT_EQ(b.events.size(), 2u);
  EXPECT_EQ(b.events[0].id, 101);
  EXPECT_EQ(b.events[1].type, "alert");
  EXPECT_FALSE(b.gap);
}

TEST(EventHubTest, AFullRingReportsTheGap) {
  EventHub hub(2, 1);
  for (int i = 0; i < 5; ++i) hub.Publish("vm", "{}");  // ids 1..5; 4 and 5 kept
  auto b = hub.Since(1, absl::ZeroDuration());
  EXPECT_TRUE(b.gap) << "2 and 3 were dropped";
  ASSERT_EQ(b.events.size(), 2u);
  EXPECT_EQ(b.events[0].id, 4);
  EXPECT_FALSE(hub.Since(3, absl::ZeroDuration()).gap) << "nothing after 3 was dropped";
}

TEST(EventHubTest, WaitersWakeForNewEventsAndClose) {
  EventHub hub(8, 1);
  std::thread later([&] {
    absl::SleepFor(absl::Milliseconds(50));
    hub.Publish("vm", R"({"x":1})");
  });
  auto b = hub.Since(0, absl::Seconds(10));
  later.join();
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0].json, R"({"x":1})");
  std::thread closer([&] {
    absl::SleepFor(absl::Milliseconds(50));
    hub.Close();
  });
  absl::Time t0 = absl::Now();
  auto c = hub.Since(1, absl::Seconds(10));
  closer.join();
  EXPECT_TRUE(c.closed);
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
}

TEST(ErrorsTest, GrpcGatewayStatusesAndBody) {
  EXPECT_EQ(HttpStatus(absl::StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatus(absl::StatusCode::kFailedPrecondition), 400);
  EXPECT_EQ(HttpStatus(absl::StatusCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatus(absl::StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatus(absl::StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatus(absl::StatusCode::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatus(absl::StatusCode::kAborted), 409);
  EXPECT_EQ(HttpStatus(absl::StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatus(absl::StatusCode::kCancelled), 499);
  EXPECT_EQ(HttpStatus(absl::StatusCode::kUnimplemented), 501);
  EXPECT_EQ(HttpStatus(absl::StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatus(absl::StatusCode::kDeadlineExceeded), 504);
  EXPECT_EQ(HttpStatus(absl::StatusCode::kDataLoss), 500);
  auto j = nlohmann::json::parse(ErrorBody(absl::NotFoundError("no VM \"a\xff\"")));
  EXPECT_EQ(j["code"], 5);
  EXPECT_TRUE(j["details"].is_array());
  EXPECT_NE(j["message"].get<std::string>().find("no VM"), std::string::npos)
      << "invalid UTF-8 is replaced, not an exception";
}

// What the daemon gets from a REST call: its parameters, query and body.
absl::Status Build(const std::string& method, const std::string& target, const std::string& body,
                   const std::function<absl::Status(const RequestInput&)>& to_request) {
  http::Request req{method, target, {}, body};
  auto t = http::ParseTarget(target);
  if (!t.ok()) return t.status();
  auto m = MatchRoute(method, t->path);
  if (!m) return absl::NotFoundError(target);
  return to_request(RequestInput{req, *t, *m, absl::FromUnixSeconds(1'800'000'000)});
}

TEST(RequestsTest, ListsTakeTheirQuery) {
  lpb::ListVmsRequest r;
  ASSERT_TRUE(Build("GET", "/v1/vms?page_size=5000&page_token=t1&filter=state%3DRUNNING", "",
                    [&](const RequestInput& in) { return ToRequest(in, &r); })
                  .ok());
  EXPECT_EQ(r.page_size(), 1000);
  EXPECT_EQ(r.page_token(), "t1");
  EXPECT_EQ(r.filter(), "state=RUNNING");
  EXPECT_EQ(Build("GET", "/v1/vms?page_size=-1", "",
                  [&](const RequestInput& in) { return ToRequest(in, &r); })
                .code(),
            absl::StatusCode::kInvalidArgument);
}

// Found by controlplane_fuzz (seed regression_query_not_utf8): %-escaped
// bytes that are not UTF-8 went into a proto string, which the daemon could
// not parse (a 500 for the client's mistake).
TEST(RequestsTest, QueryTextMustBeUtf8) {
  for (const char* target : {"/v1/vms?page_token=%ff%fe", "/v1/vms?filter=%c3",
                             "/v1/images?page_token=%80", "/v1/workflows?filter=a%ffb"}) {
    lpb::ListVmsRequest vms;
    lpb::ListImagesRequest images;
    opb::ListWorkflowsRequest workflows;
    absl::Status s = Build("GET", target, "", [&](const RequestInput& in) {
      switch (in.match.route->op) {
        case Op::kListVms:
          return ToRequest(in, &vms);
        case Op::kListImages:
          return ToRequest(in, &images);
        default:
          return ToRequest(in, &workflows);
      }
    });
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << target;
    EXPECT_NE(s.message().find("is not valid UTF-8"), absl::string_view::npos) << s;
  }
}

// Found by controlplane_fuzz (seed regression_body_error_not_utf8):
// protobuf's JSON error quoted the body's bytes, invalid UTF-8 and all.
TEST(RequestsTest, BodyErrorsAreUtf8) {
  lpb::CreateVmRequest r;
  absl::Status s = Build("POST", "/v1/vms", "{\"nope\":1\xee}",
                         [&](const RequestInput& in) { return ToRequest(in, &r); });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(IsValidUtf8(std::string(s.message()))) << s;
  EXPECT_NE(s.message().find("the body is not a valid CreateVmRequest"), absl::string_view::npos);
}

// Found by controlplane_fuzz (seed regression_usage_year_20126): a time
// past 9999 went into a Timestamp, which has no JSON form and is invalid.
TEST(RequestsTest, UsageTimesAreTimestamps) {
  ppb::QueryUsageRequest r;
  auto build = [&](const std::string& query) {
    r.Clear();
    return Build("GET", "/v1/agents/a7/usage" + query, "",
                 [&](const RequestInput& in) { return ToRequest(in, &r); });
  };
  ASSERT_TRUE(build("?start_time=2026-01-01T00:00:00Z").ok());
  EXPECT_EQ(r.subject(), "agents/a7");
  EXPECT_EQ(r.start_time().seconds(), 1767225600);
  EXPECT_EQ(r.end_time().seconds(), 1'800'000'000);
  for (const char* bad :
       {"?end_time=20126-02-01T00:00:00Z", "?start_time=infinite-past", "?start_time=yesterday"}) {
    EXPECT_EQ(build(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(RequestsTest, LimitsUpdateNamesTheAgentAndOnlySettableFields) {
  ppb::UpdateLimitRequest r;
  auto build = [&](const std::string& body) {
    r.Clear();
    return Build("PUT", "/v1/agents/a7/limits", body,
                 [&](const RequestInput& in) { return ToRequest(in, &r); });
  };
  ASSERT_TRUE(build(R"({"requestsPerMinute":60,"budget_tokens":"100"})").ok());
  EXPECT_EQ(r.limit().name(), "limits/agents/a7");
  EXPECT_EQ(r.update_mask().paths_size(), 2);
  EXPECT_TRUE(r.allow_missing());
  EXPECT_EQ(build(R"({"name":"limits/agents/b","budget_tokens":"1"})").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(build(R"({"name":"limits/agents/a7"})").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(build("[1]").code(), absl::StatusCode::kInvalidArgument);
}

TEST(RequestsTest, ExecNeedsArgvAndEventsAnId) {
  lpb::ExecVmRequest exec;
  EXPECT_EQ(Build("POST", "/v1/vms/web-1:exec", "{}",
                  [&](const RequestInput& in) { return ToRequest(in, &exec); })
                .code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(
      Build("POST", "/v1/vms/web-1:exec", R"({"argv":["true"]})", [&](const RequestInput& in) {
        return ToRequest(in, &exec);
      }).ok());
  EXPECT_EQ(exec.name(), "vms/web-1");
  absl::StatusOr<std::optional<int64_t>> after;
  Build("GET", "/v1/events?after=17", "", [&](const RequestInput& in) {
    after = EventsAfter(in);
    return after.status();
  }).IgnoreError();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(**after, 17);
}

}  // namespace
}  // namespace clawos::controlplane
