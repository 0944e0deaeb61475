#include "controlplane/api.h"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/grpc_client.h"
#include "common/grpc_generic.h"
#include "common/grpc_status.h"
#include "common/http/http1.h"
#include "common/http/query.h"
#include "common/log.h"
#include "common/proto_json.h"
#include "common/request_id.h"
#include "common/rest/services.h"
#include "common/rest/transcode.h"
#include "controlplane/api_call.h"
#include "controlplane/errors.h"

namespace clawos::controlplane {

namespace lpb = ::clawos::launcher::v1;
namespace ipb = ::clawos::identity::v1;
namespace ppb = ::clawos::proxy::v1;
namespace mpb = ::clawos::monitor::v1;
namespace opb = ::clawos::orchestrator::v1;

namespace {

Access ToAccess(api::v1::Access a) {
  switch (a) {
    case api::v1::PUBLIC:
      return Access::kPublic;
    case api::v1::VIEWER:
      return Access::kViewer;
    default:
      return Access::kAdmin;
  }
}

// The built-in routes: not methods of a daemon.
struct BuiltInRoute {
  const char* path;
  Access access;
};
constexpr BuiltInRoute kBuiltIns[] = {{"/healthz", Access::kPublic},
                                      {"/readyz", Access::kPublic},
                                      {"/metrics", Access::kLocal},
                                      {"/v1/openapi.json", Access::kPublic}};

template <typename Stub, typename Req, typename Resp>
absl::Status Ping(const char* daemon, Stub* stub,
                  grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                  const Req& req, Resp* resp) {
  if (!stub) return absl::UnavailableError(absl::StrCat(daemon, " is not configured"));
  return CallStub(*stub, method, req, resp, absl::Seconds(3));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Api>> Api::Create(Backends& backends, OperatorAuth& auth,
                                                 RotatingFile* audit,
                                                 prometheus::Registry* registry,
                                                 ApiOptions options) {
  auto bindings = rest::BindingsOf(rest::RestServices());
  if (!bindings.ok()) return absl::InternalError(bindings.status().message());
  return std::unique_ptr<Api>(
      new Api(backends, auth, audit, registry, std::move(options), *std::move(bindings)));
}

Api::Api(Backends& backends, OperatorAuth& auth, RotatingFile* audit,
         prometheus::Registry* registry, ApiOptions options, std::vector<rest::Binding> bindings)
    : b_(backends),
      auth_(auth),
      audit_(audit),
      options_(std::move(options)),
      routes_(std::move(bindings)),
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
  auto target = http::ParseTarget(request.target);
  if (!target.ok()) {
    call.Error(target.status());
  } else if (call.target = *std::move(target); !BuiltIn(call, call.target.path)) {
    std::vector<std::string> allowed;
    auto m = routes_.Find(request.method, call.target.path, &allowed);
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
      std::vector<std::pair<std::string, const rest::PathTemplate::Variable*>> params;
      call.route = call.binding().path.OpenApiPath(&params);
      call.access = ToAccess(call.binding().access);
      auto caller = auth_.Check(request, call.access, &call.caller);
      if (!caller.ok()) {
        call.Error(caller.status());
      } else {
        call.caller = *std::move(caller);
        Serve(call);
      }
      // Calls by a verified caller (allowed or refused for its role); calls
      // without a valid token are only counted, so they cannot flush the log.
      if (call.access == Access::kAdmin && !call.caller.subject.empty()) Audit(call, call.status);
    }
  }
  if (requests_) {
    requests_->Add({{"route", call.route}, {"code", std::to_string(call.status)}}).Increment();
    latency_
        ->Add({{"route", call.route}},
              prometheus::Histogram::BucketBoundaries{0.005, 0.025, 0.1, 0.5, 2.5, 10, 60})
        .Observe(absl::ToDoubleSeconds(absl::Now() - start));
  }
}

bool Api::BuiltIn(Call& c, const std::string& path) {
  const BuiltInRoute* route = nullptr;
  for (const auto& r : kBuiltIns) {
    if (path == r.path) route = &r;
  }
  if (!route) return false;
  c.route = route->path;
  if (c.req.method != "GET") {
    c.ErrorWithStatus(
        405, absl::UnimplementedError(absl::StrCat(c.req.method, " is not allowed on ", path)),
        {{"allow", "GET"}});
    return true;
  }
  auto caller = auth_.Check(c.req, route->access, &c.caller);
  if (!caller.ok()) {
    c.Error(caller.status());
    return true;
  }
  if (path == "/healthz") {
    c.ReplyJson(200, R"({"status":"ok"})");
  } else if (path == "/readyz") {
    auto unready = Unready();
    nlohmann::json j = {{"ready", unready.empty()}, {"unready", unready}};
    c.ReplyJson(unready.empty() ? 200 : 503, j.dump());
  } else if (path == "/metrics") {
    c.ReplyText(200, options_.metrics_text ? options_.metrics_text() : "",
                "text/plain; version=0.0.4");
  } else {
    c.ReplyJson(200, options_.openapi_json);
  }
  return true;
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
      {"route", call.route},
      {"rpc", call.match.binding ? call.binding().method->full_name() : ""},
      {"status", status}};
  auto s = audit_->Append(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  if (!s.ok()) log::Error("audit log write failed", {{"error", std::string(s.message())}});
}

bool Api::MakeRequest(Call& c, google::protobuf::Message* req) {
  std::string last_event_id = c.req.Header("last-event-id");
  absl::Status s = rest::RequestFromHttp(c.binding(), c.match.values,
                                         {c.req.body, &c.target.params, last_event_id}, req);
  if (!s.ok()) c.Error(s);
  return s.ok();
}

std::shared_ptr<grpc::Channel> Api::ChannelFor(Call& c) {
  const auto* service = c.binding().method->service();
  auto it = b_.channels.find(service->full_name());
  if (it == b_.channels.end() || !it->second) {
    c.Error(absl::UnavailableError(absl::StrCat(rest::DaemonName(service), " is not configured")));
    return nullptr;
  }
  return it->second;
}

void Api::Serve(Call& c) {
  if (c.binding().method->server_streaming()) return ServeStream(c);
  if (c.binding().method->client_streaming()) return ServeUpload(c);
  ServeUnary(c);
}

// A client stream from an NDJSON body: each line one request message, sent
// in order; the one response as JSON.
void Api::ServeUpload(Call& c) {
  const rest::Binding& b = c.binding();
  std::vector<absl::string_view> lines = absl::StrSplit(
      absl::string_view(c.req.body.data(), c.req.body.size()), '\n', absl::SkipWhitespace());
  if (lines.empty()) {
    return c.Error(absl::InvalidArgumentError(
        absl::StrCat("the body holds no ", b.method->input_type()->name(),
                     ": send JSON lines, one request message per line")));
  }
  // Every line is parsed before the call starts: a bad line sends nothing.
  std::vector<std::unique_ptr<google::protobuf::Message>> requests;
  for (size_t i = 0; i < lines.size(); ++i) {
    requests.push_back(NewMessage(b.method->input_type()));
    absl::Status parsed =
        FromJson(std::string_view(lines[i].data(), lines[i].size()), requests.back().get());
    if (!parsed.ok()) {
      return c.Error(absl::InvalidArgumentError(
          absl::StrCat("line ", i + 1, " of the body: ", parsed.message())));
    }
  }
  auto channel = ChannelFor(c);
  if (!channel) return;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + b.timeout));
  ctx.AddMetadata(kRequestIdHeader, c.request_id);
  size_t sent = 0;
  auto resp = NewMessage(b.method->output_type());
  absl::Status s = CallClientStream(
      channel, b.method, &ctx,
      [&](google::protobuf::Message* next) -> absl::StatusOr<bool> {
        if (sent == requests.size()) return false;
        next->CopyFrom(*requests[sent++]);
        return true;
      },
      resp.get());
  if (s.code() == absl::StatusCode::kUnavailable) {
    s = absl::UnavailableError(
        absl::StrCat(rest::DaemonName(b.method->service()), " is unavailable: ", s.message()));
  }
  if (!s.ok()) return c.Error(s);
  auto json = rest::ResponseToJson(b, c.visible(), resp.get());
  if (!json.ok()) return c.Error(json.status());
  c.ReplyJson(200, *json);
}

void Api::ServeUnary(Call& c) {
  const rest::Binding& b = c.binding();
  auto req = NewMessage(b.method->input_type());
  if (!MakeRequest(c, req.get())) return;
  auto channel = ChannelFor(c);
  if (!channel) return;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + b.timeout));
  ctx.AddMetadata(kRequestIdHeader, c.request_id);
  auto resp = NewMessage(b.method->output_type());
  absl::Status s = CallUnary(channel, b.method, &ctx, *req, resp.get());
  if (s.code() == absl::StatusCode::kUnavailable) {
    s = absl::UnavailableError(
        absl::StrCat(rest::DaemonName(b.method->service()), " is unavailable: ", s.message()));
  }
  if (!s.ok()) return c.Error(s);
  auto json = rest::ResponseToJson(b, c.visible(), resp.get());
  if (!json.ok()) return c.Error(json.status());  // 500, never an empty 200
  c.ReplyJson(200, *json);
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

bool Api::StillAllowed(const Call& c) { return auth_.Check(c.req, c.access).ok(); }

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
  std::vector<std::string> out;
  auto check = [&](const char* name, absl::Status s) {
    if (!s.ok()) out.push_back(absl::StrCat(name, ": ", s.ToString()));
  };
  {
    ipb::GetJwksRequest req;
    ipb::Jwks resp;
    check("identity",
          Ping("identity", b_.identity.get(), &ipb::IdentityService::Stub::GetJwks, req, &resp));
  }
  {
    lpb::ListImagesRequest req;
    req.set_page_size(1);
    lpb::ListImagesResponse resp;
    check("launcher",
          Ping("launcher", b_.launcher.get(), &lpb::LauncherService::Stub::ListImages, req, &resp));
  }
  {
    ppb::ListLimitsRequest req;
    req.set_page_size(1);
    ppb::ListLimitsResponse resp;
    check("inference-proxy", Ping("inference proxy", b_.proxy.get(),
                                  &ppb::ProxyAdminService::Stub::ListLimits, req, &resp));
  }
  if (b_.orchestrator) {
    opb::ListWorkflowsRequest req;
    req.set_page_size(1);
    opb::ListWorkflowsResponse resp;
    check("orchestrator", Ping("orchestrator", b_.orchestrator.get(),
                               &opb::OrchestratorService::Stub::ListWorkflows, req, &resp));
  }
  if (b_.monitor) {
    mpb::ListSinksRequest req;
    mpb::ListSinksResponse resp;
    check("monitor",
          Ping("monitor", b_.monitor.get(), &mpb::MonitorService::Stub::ListSinks, req, &resp));
  }
  return out;
}

}  // namespace clawos::controlplane
