#include "controlplane/api.h"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/grpc_client.h"
#include "common/grpc_status.h"
#include "common/http/http1.h"
#include "common/http/query.h"
#include "common/log.h"
#include "common/proto_json.h"
#include "common/request_id.h"
#include "controlplane/api_call.h"
#include "controlplane/errors.h"
#include "controlplane/requests.h"

namespace clawos::controlplane {

namespace lpb = ::clawos::launcher::v1;
namespace ipb = ::clawos::identity::v1;
namespace ppb = ::clawos::proxy::v1;
namespace mpb = ::clawos::monitor::v1;
namespace opb = ::clawos::orchestrator::v1;

namespace {

template <typename Stub, typename Req, typename Resp>
absl::Status Unary(const char* daemon, Stub* stub,
                   grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                   const Req& req, Resp* resp, absl::Duration timeout) {
  if (!stub) return absl::UnavailableError(absl::StrCat(daemon, " is not configured"));
  absl::Status s = CallStub(*stub, method, req, resp, timeout);
  if (s.code() == absl::StatusCode::kUnavailable) {
    return absl::UnavailableError(absl::StrCat(daemon, " is unavailable: ", s.message()));
  }
  return s;
}

// One unary call: the request from the REST call (requests.h), the
// daemon's answer as JSON.
template <typename Stub, typename Req, typename Resp>
void Forward(Api::Call& c, const char* daemon, Stub* stub,
             grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
             absl::Duration timeout) {
  Req req;
  if (auto s = ToRequest(c.input(), &req); !s.ok()) return c.Error(s);
  Resp resp;
  c.Reply(Unary(daemon, stub, method, req, &resp, timeout), resp);
}

}  // namespace

Api::Api(Backends& backends, OperatorAuth& auth, EventHub& hub, RotatingFile* audit,
         prometheus::Registry* registry, ApiOptions options)
    : b_(backends),
      auth_(auth),
      hub_(hub),
      audit_(audit),
      options_(std::move(options)),
      slots_(options_.streams) {
  if (registry) {
    requests_ = &prometheus::BuildCounter()
                     .Name("clawos_controlplane_requests_total")
                     .Help("REST requests by route and HTTP status")
                     .Register(*registry);
    latency_ = &prometheus::BuildHistogram()
                    .Name("clawos_controlplane_request_seconds")
                    .Help("REST request time by route (streams: until they end)")
                    .Register(*registry);
  }
}

void Api::Handle(const http::Request& request, http::ResponseSink& sink) {
  std::string rid = request.Header(kRequestIdHeader);
  if (!http::IsSafeRequestId(rid)) rid = NewRequestId();
  ScopedRequestId scoped(rid);
  const absl::Time start = absl::Now();
  Call call(request, sink, rid);
  std::string route = "unmatched";
  auto target = http::ParseTarget(request.target);
  if (!target.ok()) {
    call.Error(target.status());
  } else {
    call.target = *std::move(target);
    std::vector<std::string> allowed;
    auto m = MatchRoute(request.method, call.target.path, &allowed);
    if (!m) {
      if (!allowed.empty()) {
        call.ErrorWithStatus(405,
                             absl::UnimplementedError(absl::StrCat(
                                 request.method, " is not allowed on ", call.target.path)),
                             {{"allow", absl::StrJoin(allowed, ", ")}});
      } else {
        call.Error(absl::NotFoundError(absl::StrCat("no route for ", call.target.path)));
      }
    } else {
      call.match = *std::move(m);
      route = call.match.route->pattern;
      auto caller = auth_.Check(request, call.match.route->access, &call.caller);
      if (!caller.ok()) {
        call.Error(caller.status());
      } else {
        call.caller = *std::move(caller);
        Dispatch(call);
      }
      // Calls by a verified caller (allowed or refused for its role); calls
      // without a valid token are only counted, so they cannot flush the log.
      if (call.match.route->access == Access::kAdmin && !call.caller.subject.empty()) {
        Audit(call, call.status);
      }
    }
  }
  if (requests_) {
    requests_->Add({{"route", route}, {"code", std::to_string(call.status)}}).Increment();
    latency_
        ->Add({{"route", route}},
              prometheus::Histogram::BucketBoundaries{0.005, 0.025, 0.1, 0.5, 2.5, 10, 60})
        .Observe(absl::ToDoubleSeconds(absl::Now() - start));
  }
}

void Api::Audit(const Call& call, int status) {
  if (!audit_) return;
  nlohmann::json j = {
      {"time", absl::FormatTime(absl::RFC3339_full, absl::Now(), absl::UTCTimeZone())},
      {"request_id", call.request_id},
      {"subject", call.caller.subject},
      {"role", call.caller.role},
      {"method", call.req.method},
      {"path", call.target.path},
      {"route", call.match.route ? call.match.route->pattern : ""},
      {"status", status}};
  auto s = audit_->Append(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  if (!s.ok()) log::Error("audit log write failed", {{"error", std::string(s.message())}});
}

void Api::Dispatch(Call& c) {
  const absl::Duration t = options_.call_timeout;
  const absl::Duration long_t = options_.start_timeout;
  using L = lpb::LauncherService::Stub;
  using P = ppb::ProxyAdminService::Stub;
  using O = opb::OrchestratorService::Stub;
  auto* launcher = b_.launcher.get();
  auto* proxy = b_.proxy.get();
  auto* orch = b_.orchestrator.get();
  switch (c.match.route->op) {
    case Op::kListVms:
      return Forward(c, "launcher", launcher, &L::ListVms, t);
    case Op::kCreateVm: {
      lpb::CreateVmRequest req;
      if (auto s = ToRequest(c.input(), &req); !s.ok()) return c.Error(s);
      lpb::Vm resp;
      return c.Reply(
          Unary("launcher", launcher, &L::CreateVm, req, &resp, req.start() ? long_t : t), resp);
    }
    case Op::kGetVm:
      return Forward(c, "launcher", launcher, &L::GetVm, t);
    case Op::kDeleteVm:
      return Forward(c, "launcher", launcher, &L::DeleteVm, t);
    case Op::kStartVm:
      return Forward(c, "launcher", launcher, &L::StartVm, long_t);
    case Op::kStopVm:
      return Forward(c, "launcher", launcher, &L::StopVm, long_t);
    case Op::kExecVm:
      return ExecVm(c);
    case Op::kVmLogs:
      return VmLogs(c);
    case Op::kListImages:
      return Forward(c, "launcher", launcher, &L::ListImages, t);
    case Op::kImportImage:
      return Forward(c, "launcher", launcher, &L::ImportImage, long_t);
    case Op::kGetUsage:
      return Forward(c, "inference proxy", proxy, &P::QueryUsage, t);
    case Op::kGetLimits:
      return Forward(c, "inference proxy", proxy, &P::GetLimit, t);
    case Op::kPutLimits:
      return Forward(c, "inference proxy", proxy, &P::UpdateLimit, t);
    case Op::kCreateToken:
      return Forward(c, "identity", b_.identity.get(), &ipb::IdentityService::Stub::IssueToken, t);
    case Op::kEvents:
      return Events(c);
    case Op::kListWorkflows:
      return Forward(c, "orchestrator", orch, &O::ListWorkflows, t);
    case Op::kSubmitWorkflow:
      return Forward(c, "orchestrator", orch, &O::SubmitWorkflow, t);
    case Op::kGetWorkflow: {
      opb::GetWorkflowRequest req;
      if (auto s = ToRequest(c.input(), &req); !s.ok()) return c.Error(s);
      opb::Workflow resp;
      absl::Status s = Unary("orchestrator", orch, &O::GetWorkflow, req, &resp, t);
      // The spec holds prompts and env values: operators only.
      if (!c.caller.admin()) resp.clear_spec();
      return c.Reply(s, resp);
    }
    case Op::kCancelWorkflow:
      return Forward(c, "orchestrator", orch, &O::CancelWorkflow, t);
    case Op::kWorkflowEvents:
      return WorkflowEvents(c);
    case Op::kStepOutput:
      return Forward(c, "orchestrator", orch, &O::GetStepOutput, t);
    case Op::kHealthz:
      return c.ReplyJson(200, R"({"status":"ok"})");
    case Op::kReadyz: {
      auto unready = Unready();
      nlohmann::json j = {{"ready", unready.empty()}, {"unready", unready}};
      return c.ReplyJson(unready.empty() ? 200 : 503, j.dump());
    }
    case Op::kMetrics:
      return c.ReplyText(200, options_.metrics_text ? options_.metrics_text() : "",
                         "text/plain; version=0.0.4");
    case Op::kOpenApi:
      return c.ReplyJson(200, options_.openapi_json);
  }
}

Api::ActiveCall::ActiveCall(Api& a, grpc::ClientContext* c) : api(a), ctx(c) {
  std::lock_guard lock(api.active_mu_);
  api.active_.insert(ctx);
  if (api.shutting_down_) ctx->TryCancel();
}

Api::ActiveCall::~ActiveCall() {
  std::lock_guard lock(api.active_mu_);
  api.active_.erase(ctx);
}

void Api::Shutdown() {
  std::lock_guard lock(active_mu_);
  shutting_down_ = true;
  for (auto* ctx : active_) ctx->TryCancel();
}

bool Api::StillAllowed(const Call& c) { return auth_.Check(c.req, c.match.route->access).ok(); }

bool Api::TakeSlot(Call& c, StreamSlots::Slot* slot) {
  auto s = slots_.Acquire(!c.caller.admin(), c.caller.subject);
  if (!s.ok()) {
    c.ErrorWithStatus(429, s.status(), {{"retry-after", "5"}});
    return false;
  }
  *slot = *std::move(s);
  return true;
}

std::vector<std::string> Api::Unready() {
  const absl::Duration t = absl::Seconds(3);
  std::vector<std::string> out;
  auto check = [&](const char* name, absl::Status s) {
    if (!s.ok()) out.push_back(absl::StrCat(name, ": ", s.ToString()));
  };
  {
    ipb::GetJwksRequest req;
    ipb::Jwks resp;
    check("identity", Unary("identity", b_.identity.get(), &ipb::IdentityService::Stub::GetJwks,
                            req, &resp, t));
  }
  {
    lpb::ListImagesRequest req;
    req.set_page_size(1);
    lpb::ListImagesResponse resp;
    check("launcher", Unary("launcher", b_.launcher.get(), &lpb::LauncherService::Stub::ListImages,
                            req, &resp, t));
  }
  {
    ppb::ListLimitsRequest req;
    req.set_page_size(1);
    ppb::ListLimitsResponse resp;
    check("inference-proxy", Unary("inference proxy", b_.proxy.get(),
                                   &ppb::ProxyAdminService::Stub::ListLimits, req, &resp, t));
  }
  if (b_.orchestrator) {
    opb::ListWorkflowsRequest req;
    req.set_page_size(1);
    opb::ListWorkflowsResponse resp;
    check("orchestrator", Unary("orchestrator", b_.orchestrator.get(),
                                &opb::OrchestratorService::Stub::ListWorkflows, req, &resp, t));
  }
  if (b_.monitor) {
    mpb::ListSinksRequest req;
    mpb::ListSinksResponse resp;
    check("monitor",
          Unary("monitor", b_.monitor.get(), &mpb::MonitorService::Stub::ListSinks, req, &resp, t));
  }
  return out;
}

}  // namespace clawos::controlplane
