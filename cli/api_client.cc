#include "cli/api_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "clawos/api/v1/options.pb.h"
#include "common/grpc_client.h"
#include "common/grpc_generic.h"
#include "common/http/sse.h"
#include "common/proto_json.h"
#include "common/rest/binding.h"
#include "common/rest/services.h"
#include "common/rest/transcode.h"
#include "common/status.h"

namespace clawos::cli {
namespace {

namespace gp = google::protobuf;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr absl::Duration kRestMargin = absl::Seconds(15);
constexpr absl::Duration kForever = absl::Hours(24 * 365);
// The control plane's request limit (its --max-body default; nginx's
// client_max_body_size in deploy/nginx/clawos.conf).
constexpr size_t kMaxUploadBody = 1 << 20;

std::string FieldText(const gp::Message& m, const gp::FieldDescriptor* f) {
  const auto* r = m.GetReflection();
  switch (f->cpp_type()) {
    case gp::FieldDescriptor::CPPTYPE_INT64:
      return std::to_string(r->GetInt64(m, f));
    case gp::FieldDescriptor::CPPTYPE_UINT64:
      return std::to_string(r->GetUInt64(m, f));
    case gp::FieldDescriptor::CPPTYPE_INT32:
      return std::to_string(r->GetInt32(m, f));
    case gp::FieldDescriptor::CPPTYPE_STRING:
      return r->GetString(m, f);
    default:
      return "";
  }
}

// An NDJSON line {"error": {...}} ends a stream with that error.
bool ErrorLine(const std::string& text, absl::Status* error) {
  if (!absl::StrContains(text, "\"error\"")) return false;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object() || j.size() != 1 || !j.contains("error")) return false;
  *error = StatusFromErrorBody(500, j["error"].dump());
  return true;
}

class RestApiClient : public ApiClient {
 public:
  RestApiClient(std::unique_ptr<RestClient> rest, std::vector<rest::Binding> bindings)
      : rest_(std::move(rest)), bindings_(std::move(bindings)) {}

  absl::Status Unary(const gp::MethodDescriptor* m, const gp::Message& req, gp::Message* resp,
                     absl::Duration timeout) override {
    ASSIGN_OR_RETURN(const rest::Binding* b, Binding(m));
    ASSIGN_OR_RETURN(rest::HttpCall call, rest::RequestToHttp(*b, req));
    if (timeout == absl::ZeroDuration()) timeout = DefaultTimeout(m);
    ASSIGN_OR_RETURN(std::string body,
                     rest_->Call(call.verb, Target(call), call.body, timeout + kRestMargin));
    return rest::ResponseFromJson(*b, body.empty() ? std::string("{}") : body, resp);
  }

  absl::Status Stream(const gp::MethodDescriptor* m, const gp::Message& req,
                      const OnMessage& on_message, Canceller* cancel) override {
    ASSIGN_OR_RETURN(const rest::Binding* b, Binding(m));
    ASSIGN_OR_RETURN(rest::HttpCall call, rest::RequestToHttp(*b, req));
    auto msg = NewMessage(m->output_type());
    if (b->stream.format() == api::v1::RestStream::SSE) {
      return Sse(*b, call, ResumeHeaders(*b, req), msg.get(), on_message, cancel);
    }
    return Ndjson(*b, call, msg.get(), on_message, cancel);
  }

  // A client stream goes as one NDJSON body (grpc-gateway's form), which
  // the control plane holds whole: at most its request limit.
  absl::Status Upload(const gp::MethodDescriptor* m, const NextMessage& next,
                      gp::Message* resp) override {
    ASSIGN_OR_RETURN(const rest::Binding* b, Binding(m));
    std::string body;
    auto msg = NewMessage(m->input_type());
    for (;;) {
      msg->Clear();
      ASSIGN_OR_RETURN(bool more, next(msg.get()));
      if (!more) break;
      ASSIGN_OR_RETURN(std::string line, TryToJson(*msg));
      line.erase(std::remove(line.begin(), line.end(), '\n'), line.end());
      absl::StrAppend(&body, line, "\n");
      if (body.size() > kMaxUploadBody) {
        return absl::ResourceExhaustedError(
            absl::StrCat("over ", kMaxUploadBody >> 10,
                         " KiB through the control plane (its request limit; about 750 KiB of "
                         "file): call the daemon directly (--direct) for more"));
      }
    }
    ASSIGN_OR_RETURN(rest::HttpCall call, rest::RequestToHttp(*b, *msg));
    ASSIGN_OR_RETURN(std::string answer,
                     rest_->Call(call.verb, call.path, body, DefaultTimeout(m) + kRestMargin));
    return rest::ResponseFromJson(*b, answer.empty() ? std::string("{}") : answer, resp);
  }

 private:
  absl::StatusOr<const rest::Binding*> Binding(const gp::MethodDescriptor* m) const {
    const rest::Binding* b = rest::FindBinding(bindings_, m);
    if (!b) {
      return absl::UnimplementedError(
          absl::StrCat(m->full_name(), " has no REST route: call the daemon directly (--direct)"));
    }
    return b;
  }
  static std::string Target(const rest::HttpCall& call) {
    return call.query.empty() ? call.path : absl::StrCat(call.path, "?", call.query);
  }
  // The resume field travels as Last-Event-ID, as a browser would send it.
  static Headers ResumeHeaders(const rest::Binding& b, const gp::Message& req) {
    Headers headers;
    if (b.stream.resume_field().empty()) return headers;
    const auto* f = req.GetDescriptor()->FindFieldByName(b.stream.resume_field());
    if (f && !f->is_repeated() && req.GetReflection()->HasField(req, f)) {
      headers.emplace_back("last-event-id", FieldText(req, f));
    }
    return headers;
  }

  absl::Status Sse(const rest::Binding& b, const rest::HttpCall& call, const Headers& headers,
                   gp::Message* msg, const OnMessage& on_message, Canceller* cancel) {
    absl::Status failed;
    http::SseSplitter sse([&](const http::SseEvent& e, std::string_view) {
      if (!failed.ok() || e.data.empty()) return;
      std::string_view name = e.name.empty() ? "message" : std::string_view(e.name);
      if (name == "error") {
        failed = StatusFromErrorBody(500, e.data);
        return;
      }
      if (name == "gap" && b.stream.event_oneof().empty()) return;
      msg->Clear();
      failed = rest::StreamMessageFromSse(b, absl::string_view(name.data(), name.size()),
                                          absl::string_view(e.data.data(), e.data.size()), msg);
      if (failed.ok()) failed = on_message(*msg);
    });
    absl::Status s = rest_->Stream(
        call.verb, Target(call), call.body, headers, kForever,
        [&](std::string_view piece) -> absl::Status {
          std::string error;
          if (!sse.Feed(piece, &error)) return absl::DataLossError(error);
          return failed;
        },
        cancel);
    return s.ok() ? failed : s;
  }

  absl::Status Ndjson(const rest::Binding& b, const rest::HttpCall& call, gp::Message* msg,
                      const OnMessage& on_message, Canceller* cancel) {
    LineSplitter lines;
    auto line = [&](const std::string& text) -> absl::Status {
      if (text.empty()) return absl::OkStatus();  // a keep-alive
      absl::Status error;
      if (ErrorLine(text, &error)) return error;
      msg->Clear();
      RETURN_IF_ERROR(rest::ResponseFromJson(b, text, msg));
      return on_message(*msg);
    };
    absl::Status s = rest_->Stream(
        call.verb, Target(call), call.body, {{"accept", "application/x-ndjson"}}, kForever,
        [&](std::string_view piece) -> absl::Status {
          for (const std::string& l : lines.Feed(piece)) RETURN_IF_ERROR(line(l));
          return absl::OkStatus();
        },
        cancel);
    if (!s.ok()) return s;
    return line(lines.TakeRest());
  }

  std::unique_ptr<RestClient> rest_;
  std::vector<rest::Binding> bindings_;
};

// Where each service's daemon is, and what to say when it cannot be reached.
struct DaemonAddress {
  std::string address;
  std::string binary;  // "clawos-vm-launcher"
  std::string flag;    // "--launcher"
  std::string env;     // "CLAWOS_LAUNCHER_ADDR"
};

std::map<std::string, DaemonAddress> Addresses(const Context& ctx) {
  return {
      {"clawos.launcher.v1.LauncherService",
       {ctx.launcher_addr, "clawos-vm-launcher", "--launcher", "CLAWOS_LAUNCHER_ADDR"}},
      {"clawos.orchestrator.v1.OrchestratorService",
       {ctx.orchestrator_addr, "clawos-orchestrator", "--orchestrator",
        "CLAWOS_ORCHESTRATOR_ADDR"}},
      {"clawos.identity.v1.IdentityService",
       {ctx.identity_addr, "clawos-identity", "--identity", "CLAWOS_IDENTITY_ADDR"}},
      {"clawos.proxy.v1.ProxyAdminService",
       {ctx.proxy_admin_addr, "clawos-inference-proxy", "--proxy-admin",
        "CLAWOS_PROXY_ADMIN_ADDR"}},
      {"clawos.monitor.v1.MonitorService",
       {ctx.monitor_addr, "clawos-monitor", "--monitor", "CLAWOS_MONITOR_ADDR"}},
  };
}

class GrpcApiClient : public ApiClient {
 public:
  GrpcApiClient(std::map<std::string, DaemonAddress> daemons, ClientOptions tls)
      : daemons_(std::move(daemons)), tls_(std::move(tls)) {}

  absl::Status Unary(const gp::MethodDescriptor* m, const gp::Message& req, gp::Message* resp,
                     absl::Duration timeout) override {
    ASSIGN_OR_RETURN(auto channel, Channel(m));
    auto ctx = MakeClientContext(timeout == absl::ZeroDuration() ? DefaultTimeout(m) : timeout);
    return Hint(m, CallUnary(channel, m, ctx.get(), req, resp));
  }

  absl::Status Stream(const gp::MethodDescriptor* m, const gp::Message& req,
                      const OnMessage& on_message, Canceller* cancel) override {
    ASSIGN_OR_RETURN(auto channel, Channel(m));
    auto ctx = MakeClientContext(kForever);
    grpc::ClientContext* raw = ctx.get();
    if (cancel) cancel->Set([raw] { raw->TryCancel(); });
    ServerStream stream(channel, m, ctx.get(), req);
    auto msg = NewMessage(m->output_type());
    absl::Status failed;
    while (failed.ok() && stream.Next(msg.get())) failed = on_message(*msg);
    if (cancel) cancel->Set(nullptr);
    if (!failed.ok()) {
      raw->TryCancel();
      stream.Finish();
      return failed;
    }
    absl::Status s = stream.Finish();
    if (cancel && cancel->cancelled()) return absl::CancelledError("the call was cancelled");
    return Hint(m, s);
  }

  absl::Status Upload(const gp::MethodDescriptor* m, const NextMessage& next,
                      gp::Message* resp) override {
    ASSIGN_OR_RETURN(auto channel, Channel(m));
    auto ctx = MakeClientContext(absl::Hours(24));
    return Hint(m, CallClientStream(channel, m, ctx.get(), next, resp));
  }

 private:
  absl::StatusOr<std::shared_ptr<grpc::Channel>> Channel(const gp::MethodDescriptor* m) {
    const std::string& service = m->service()->full_name();
    auto it = channels_.find(service);
    if (it != channels_.end()) return it->second;
    auto d = daemons_.find(service);
    if (d == daemons_.end()) return absl::InternalError(absl::StrCat("no address for ", service));
    ASSIGN_OR_RETURN(auto channel, MakeChannel(d->second.address, tls_));
    channels_[service] = channel;
    return channel;
  }
  // An unreachable daemon: say which, where, and how to point elsewhere. A
  // VM's agent that does not answer is not the daemon's absence.
  absl::Status Hint(const gp::MethodDescriptor* m, absl::Status s) const {
    if (s.code() != absl::StatusCode::kUnavailable || absl::StrContains(s.message(), "agent")) {
      return s;
    }
    auto d = daemons_.find(m->service()->full_name());
    if (d == daemons_.end()) return s;
    const DaemonAddress& a = d->second;
    return absl::UnavailableError(absl::StrCat(s.message(), " (is ", a.binary, " running at ",
                                               a.address, "? set ", a.flag, " or ", a.env, ")"));
  }

  std::map<std::string, DaemonAddress> daemons_;
  ClientOptions tls_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
};

}  // namespace

absl::StatusOr<const gp::MethodDescriptor*> ApiClient::Find(const std::string& full_name) {
  const auto* m = gp::DescriptorPool::generated_pool()->FindMethodByName(full_name);
  if (!m) return absl::InternalError("no method " + full_name);
  return m;
}

absl::Duration ApiClient::DefaultTimeout(const gp::MethodDescriptor* m) {
  int s = m->options().GetExtension(api::v1::timeout_seconds);
  return s > 0 ? absl::Seconds(s) : absl::Seconds(30);
}

absl::StatusOr<std::unique_ptr<ApiClient>> MakeDirectApiClient(const Context& ctx) {
  return std::unique_ptr<ApiClient>(new GrpcApiClient(Addresses(ctx), ctx.tls));
}

absl::StatusOr<std::unique_ptr<ApiClient>> MakeApiClient(const Context& ctx) {
  if (ctx.direct) return MakeDirectApiClient(ctx);
  ASSIGN_OR_RETURN(FoundToken token, FindToken(DefaultTokenPlaces(ctx)));
  ASSIGN_OR_RETURN(auto rest, RestClient::Make(ctx.url, ctx.ca_file, token.token, token.source));
  ASSIGN_OR_RETURN(auto bindings, rest::BindingsOf(rest::RestServices()));
  return std::unique_ptr<ApiClient>(new RestApiClient(std::move(rest), std::move(bindings)));
}

}  // namespace clawos::cli
