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

absl::StatusOr<int64_t> IntQuery(const Api::Call& c, const std::string& name, int64_t def) {
  auto it = c.target.query.find(name);
  if (it == c.target.query.end() || it->second.empty()) return def;
  int64_t v;
  if (!absl::SimpleAtoi(it->second, &v) || v < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("query parameter ", name, " must be a non-negative integer"));
  }
  return v;
}

// ?page_size=N, at most 1000 (0: the daemon's default).
absl::StatusOr<int32_t> PageSizeQuery(const Api::Call& c) {
  auto size = IntQuery(c, "page_size", 0);
  if (!size.ok()) return size.status();
  return static_cast<int32_t>(std::min<int64_t>(*size, 1000));
}

bool BoolQuery(const Api::Call& c, const std::string& name) {
  auto it = c.target.query.find(name);
  return it != c.target.query.end() && (it->second == "true" || it->second == "1");
}

// The update mask of a PUT limits body: the Limit fields it names.
absl::StatusOr<std::vector<std::string>> LimitFields(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("the body must be a JSON object of limits");
  }
  static const std::vector<std::string> kSettable = {"requests_per_minute", "tokens_per_minute",
                                                     "budget_tokens", "budget_micro_usd",
                                                     "budget_window"};
  const auto* d = ppb::Limit::descriptor();
  std::vector<std::string> out;
  for (const auto& [key, value] : j.items()) {
    const auto* f = d->FindFieldByName(key);
    if (!f) f = d->FindFieldByCamelcaseName(key);
    if (f && f->name() == "name") continue;  // checked against the path
    if (!f || std::find(kSettable.begin(), kSettable.end(), f->name()) == kSettable.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", key,
                       "\" cannot be set; settable: requests_per_minute, tokens_per_minute, "
                       "budget_tokens, budget_micro_usd, budget_window"));
    }
    out.push_back(f->name());
  }
  if (out.empty()) return absl::InvalidArgumentError("the body sets no limit");
  return out;
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
  const std::string vm = c.match.params.count("name") ? "vms/" + c.match.params["name"] : "";
  const std::string agent = c.match.params.count("id") ? "agents/" + c.match.params["id"] : "";
  switch (c.match.route->op) {
    case Op::kListVms: {
      lpb::ListVmsRequest req;
      auto size = PageSizeQuery(c);
      if (!size.ok()) return c.Error(size.status());
      req.set_page_size(*size);
      req.set_page_token(c.Query("page_token"));
      req.set_filter(c.Query("filter"));
      lpb::ListVmsResponse resp;
      return c.Reply(
          Unary("launcher", b_.launcher.get(), &lpb::LauncherService::Stub::ListVms, req, &resp, t),
          resp);
    }
    case Op::kCreateVm: {
      lpb::CreateVmRequest req;
      if (auto s = FromJson(c.req.body, &req); !s.ok()) return c.Error(s);
      lpb::Vm resp;
      return c.Reply(Unary("launcher", b_.launcher.get(), &lpb::LauncherService::Stub::CreateVm,
                           req, &resp, req.start() ? options_.start_timeout : t),
                     resp);
    }
    case Op::kGetVm: {
      lpb::GetVmRequest req;
      req.set_name(vm);
      lpb::Vm resp;
      return c.Reply(
          Unary("launcher", b_.launcher.get(), &lpb::LauncherService::Stub::GetVm, req, &resp, t),
          resp);
    }
    case Op::kDeleteVm: {
      lpb::DeleteVmRequest req;
      req.set_name(vm);
      req.set_force(BoolQuery(c, "force"));
      google::protobuf::Empty resp;
      return c.Reply(Unary("launcher", b_.launcher.get(), &lpb::LauncherService::Stub::DeleteVm,
                           req, &resp, t),
                     resp);
    }
    case Op::kStartVm: {
      lpb::StartVmRequest req;
      req.set_name(vm);
      lpb::Vm resp;
      return c.Reply(Unary("launcher", b_.launcher.get(), &lpb::LauncherService::Stub::StartVm, req,
                           &resp, options_.start_timeout),
                     resp);
    }
    case Op::kStopVm: {
      lpb::StopVmRequest req;
      if (!c.req.body.empty()) {
        if (auto s = FromJson(c.req.body, &req); !s.ok()) return c.Error(s);
      }
      req.set_name(vm);
      lpb::Vm resp;
      return c.Reply(Unary("launcher", b_.launcher.get(), &lpb::LauncherService::Stub::StopVm, req,
                           &resp, options_.start_timeout),
                     resp);
    }
    case Op::kExecVm:
      return ExecVm(c);
    case Op::kVmLogs:
      return VmLogs(c);
    case Op::kListImages: {
      lpb::ListImagesRequest req;
      auto size = PageSizeQuery(c);
      if (!size.ok()) return c.Error(size.status());
      req.set_page_size(*size);
      req.set_page_token(c.Query("page_token"));
      lpb::ListImagesResponse resp;
      return c.Reply(Unary("launcher", b_.launcher.get(), &lpb::LauncherService::Stub::ListImages,
                           req, &resp, t),
                     resp);
    }
    case Op::kImportImage: {
      lpb::ImportImageRequest req;
      if (auto s = FromJson(c.req.body, &req); !s.ok()) return c.Error(s);
      lpb::Image resp;
      return c.Reply(Unary("launcher", b_.launcher.get(), &lpb::LauncherService::Stub::ImportImage,
                           req, &resp, options_.start_timeout),
                     resp);
    }
    case Op::kGetUsage: {
      ppb::QueryUsageRequest req;
      req.set_subject(agent);
      // The last 30 days unless start_time/end_time (RFC 3339) say otherwise.
      absl::Time end = absl::Now(), begin = end - absl::Hours(24 * 30);
      std::string err;
      if (!c.Query("start_time").empty() &&
          !absl::ParseTime(absl::RFC3339_full, c.Query("start_time"), &begin, &err)) {
        return c.Error(absl::InvalidArgumentError("start_time must be RFC 3339: " + err));
      }
      if (!c.Query("end_time").empty() &&
          !absl::ParseTime(absl::RFC3339_full, c.Query("end_time"), &end, &err)) {
        return c.Error(absl::InvalidArgumentError("end_time must be RFC 3339: " + err));
      }
      req.mutable_start_time()->set_seconds(absl::ToUnixSeconds(begin));
      req.mutable_end_time()->set_seconds(absl::ToUnixSeconds(end));
      ppb::QueryUsageResponse resp;
      return c.Reply(Unary("inference proxy", b_.proxy.get(),
                           &ppb::ProxyAdminService::Stub::QueryUsage, req, &resp, t),
                     resp);
    }
    case Op::kGetLimits: {
      ppb::GetLimitRequest req;
      req.set_name("limits/" + agent);
      ppb::Limit resp;
      return c.Reply(Unary("inference proxy", b_.proxy.get(),
                           &ppb::ProxyAdminService::Stub::GetLimit, req, &resp, t),
                     resp);
    }
    case Op::kPutLimits: {
      auto fields = LimitFields(c.req.body);
      if (!fields.ok()) return c.Error(fields.status());
      ppb::UpdateLimitRequest req;
      if (auto s = FromJson(c.req.body, req.mutable_limit()); !s.ok()) return c.Error(s);
      std::string name = "limits/" + agent;
      if (!req.limit().name().empty() && req.limit().name() != name) {
        return c.Error(absl::InvalidArgumentError(
            absl::StrCat("the body's name \"", req.limit().name(), "\" is not ", name)));
      }
      req.mutable_limit()->set_name(name);
      for (const auto& f : *fields) req.mutable_update_mask()->add_paths(f);
      req.set_allow_missing(true);
      ppb::Limit resp;
      return c.Reply(Unary("inference proxy", b_.proxy.get(),
                           &ppb::ProxyAdminService::Stub::UpdateLimit, req, &resp, t),
                     resp);
    }
    case Op::kCreateToken: {
      ipb::IssueTokenRequest req;
      if (auto s = FromJson(c.req.body, &req); !s.ok()) return c.Error(s);
      ipb::IssueTokenResponse resp;
      return c.Reply(Unary("identity", b_.identity.get(), &ipb::IdentityService::Stub::IssueToken,
                           req, &resp, t),
                     resp);
    }
    case Op::kEvents:
      return Events(c);
    case Op::kListWorkflows: {
      opb::ListWorkflowsRequest req;
      auto size = PageSizeQuery(c);
      if (!size.ok()) return c.Error(size.status());
      req.set_page_size(*size);
      req.set_page_token(c.Query("page_token"));
      req.set_filter(c.Query("filter"));
      opb::ListWorkflowsResponse resp;
      return c.Reply(Unary("orchestrator", b_.orchestrator.get(),
                           &opb::OrchestratorService::Stub::ListWorkflows, req, &resp, t),
                     resp);
    }
    case Op::kSubmitWorkflow: {
      opb::SubmitWorkflowRequest req;
      if (auto s = FromJson(c.req.body, &req); !s.ok()) return c.Error(s);
      opb::Workflow resp;
      return c.Reply(Unary("orchestrator", b_.orchestrator.get(),
                           &opb::OrchestratorService::Stub::SubmitWorkflow, req, &resp, t),
                     resp);
    }
    case Op::kGetWorkflow: {
      opb::GetWorkflowRequest req;
      req.set_name("workflows/" + c.match.params["workflow"]);
      opb::Workflow resp;
      absl::Status s = Unary("orchestrator", b_.orchestrator.get(),
                             &opb::OrchestratorService::Stub::GetWorkflow, req, &resp, t);
      // The spec holds prompts and env values: operators only.
      if (!c.caller.admin()) resp.clear_spec();
      return c.Reply(s, resp);
    }
    case Op::kCancelWorkflow: {
      opb::CancelWorkflowRequest req;
      req.set_name("workflows/" + c.match.params["workflow"]);
      opb::Workflow resp;
      return c.Reply(Unary("orchestrator", b_.orchestrator.get(),
                           &opb::OrchestratorService::Stub::CancelWorkflow, req, &resp, t),
                     resp);
    }
    case Op::kWorkflowEvents:
      return WorkflowEvents(c);
    case Op::kStepOutput: {
      opb::GetStepOutputRequest req;
      req.set_workflow("workflows/" + c.match.params["workflow"]);
      req.set_step(c.match.params["step"]);
      opb::StepOutput resp;
      return c.Reply(Unary("orchestrator", b_.orchestrator.get(),
                           &opb::OrchestratorService::Stub::GetStepOutput, req, &resp, t),
                     resp);
    }
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
