// The control plane's plain parts, without the network: the REST routes the
// protos declare (every route of the API before issue 19 is still there,
// with its access), the error mapping, the stream caps, who may read
// /metrics without a token.
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/rest/binding.h"
#include "common/rest/services.h"
#include "common/utf8.h"
#include "controlplane/errors.h"
#include "controlplane/operator_auth.h"
#include "controlplane/stream_slots.h"

namespace clawos::controlplane {
namespace {

rest::RouteTable Routes() {
  auto b = rest::BindingsOf(rest::RestServices());
  EXPECT_TRUE(b.ok()) << b.status();
  return rest::RouteTable(b.ok() ? *b : std::vector<rest::Binding>{});
}

// The routes as they were written by hand before the protos declared them:
// each still answers, with the same access.
TEST(RoutesTest, EveryEarlierRouteIsDeclaredByTheProtos) {
  struct Old {
    const char* method;
    const char* path;
    api::v1::Access access;
    const char* rpc;
  };
  const Old kOld[] = {
      {"GET", "/v1/vms", api::v1::VIEWER, "ListVms"},
      {"POST", "/v1/vms", api::v1::ADMIN, "CreateVm"},
      {"GET", "/v1/vms/web-1", api::v1::VIEWER, "GetVm"},
      {"DELETE", "/v1/vms/web-1", api::v1::ADMIN, "DeleteVm"},
      {"POST", "/v1/vms/web-1:start", api::v1::ADMIN, "StartVm"},
      {"POST", "/v1/vms/web-1:stop", api::v1::ADMIN, "StopVm"},
      {"POST", "/v1/vms/web-1:exec", api::v1::ADMIN, "ExecVm"},
      {"GET", "/v1/vms/a.b_c/logs", api::v1::VIEWER, "StreamVmLogs"},
      {"GET", "/v1/images", api::v1::VIEWER, "ListImages"},
      {"POST", "/v1/images", api::v1::ADMIN, "ImportImage"},
      {"GET", "/v1/agents/a7/usage", api::v1::VIEWER, "QueryUsage"},
      {"GET", "/v1/agents/a7/limits", api::v1::VIEWER, "GetLimit"},
      {"PUT", "/v1/agents/a7/limits", api::v1::ADMIN, "UpdateLimit"},
      {"POST", "/v1/tokens", api::v1::ADMIN, "IssueToken"},
      {"GET", "/v1/events", api::v1::VIEWER, "WatchEvents"},
      {"GET", "/v1/workflows", api::v1::VIEWER, "ListWorkflows"},
      {"POST", "/v1/workflows", api::v1::ADMIN, "SubmitWorkflow"},
      {"GET", "/v1/workflows/w1", api::v1::VIEWER, "GetWorkflow"},
      {"POST", "/v1/workflows/w1:cancel", api::v1::ADMIN, "CancelWorkflow"},
      {"GET", "/v1/workflows/w1/events", api::v1::VIEWER, "WatchWorkflow"},
      {"GET", "/v1/workflows/w1/steps/s1/output", api::v1::ADMIN, "GetStepOutput"},
  };
  rest::RouteTable routes = Routes();
  for (const Old& o : kOld) {
    auto m = routes.Find(o.method, o.path);
    ASSERT_TRUE(m) << o.method << " " << o.path;
    EXPECT_EQ(m->binding->method->name(), o.rpc) << o.path;
    EXPECT_EQ(m->binding->access, o.access) << o.method << " " << o.path;
  }
  // Names outside [A-Za-z0-9._-] name nothing.
  EXPECT_FALSE(routes.Find("GET", "/v1/vms/bad name"));
  EXPECT_FALSE(routes.Find("GET", "/v1/vms/a/b"));
  std::vector<std::string> allowed;
  EXPECT_FALSE(routes.Find("PATCH", "/v1/vms", &allowed));
  EXPECT_EQ(allowed, (std::vector<std::string>{"GET", "POST"}));
}

// Every method a daemon serves to trusted peers only says so in its proto,
// and every REST route says who may call it.
TEST(RoutesTest, EveryBindingHasAnAccessAndEveryStreamAFormat) {
  for (const rest::Binding& b : Routes().bindings()) {
    EXPECT_NE(b.access, api::v1::ACCESS_UNSPECIFIED) << b.method->full_name();
    if (b.method->server_streaming()) {
      EXPECT_NE(b.stream.format(), api::v1::RestStream::FORMAT_UNSPECIFIED)
          << b.method->full_name();
    }
  }
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

}  // namespace
}  // namespace clawos::controlplane
