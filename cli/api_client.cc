#include "cli/api_client.h"

#include <grpcpp/grpcpp.h>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_client.h"
#include "common/grpc_generic.h"
#include "common/http/sse.h"
#include "common/rest/transcode.h"
#include "common/status.h"

namespace clawos::cli {
namespace {

namespace gp = google::protobuf;
using Headers = std::vector<std::pair<std::string, std::string>>;

// A REST call waits a little longer than the control plane's own deadline,
// so that the control plane's answer (a 504 naming the daemon) comes first.
constexpr absl::Duration kRestMargin = absl::Seconds(15);

class RestApiClient : public ApiClient {
 public:
  RestApiClient(std::unique_ptr<RestClient> rest, std::vector<rest::Binding> bindings)
      : rest_(std::move(rest)), bindings_(std::move(bindings)) {}

  absl::Status Unary(const gp::MethodDescriptor* m, const gp::Message& req, gp::Message* resp,
                     absl::Duration timeout) override {
    ASSIGN_OR_RETURN(const rest::Binding* b, Binding(m));
    ASSIGN_OR_RETURN(rest::HttpCall call, rest::RequestToHttp(*b, req));
    ASSIGN_OR_RETURN(std::string body,
                     rest_->Call(call.verb, Target(call), call.body, timeout + kRestMargin));
    return rest::ResponseFromJson(*b, body.empty() ? std::string("{}") : body, resp);
  }

  absl::Status Stream(const gp::MethodDescriptor* m, const gp::Message& req,
                      const std::function<absl::Status(const gp::Message&)>& on_message,
                      Canceller* cancel) override {
    ASSIGN_OR_RETURN(const rest::Binding* b, Binding(m));
    ASSIGN_OR_RETURN(rest::HttpCall call, rest::RequestToHttp(*b, req));
    Headers headers;
    // The resume field travels as Last-Event-ID, as a browser would send it.
    if (!b->stream.resume_field().empty()) {
      const auto* f = req.GetDescriptor()->FindFieldByName(b->stream.resume_field());
      if (f && !f->is_repeated() && req.GetReflection()->HasField(req, f)) {
        headers.emplace_back("last-event-id", Text(req, f));
      }
    }
    auto msg = NewMessage(m->output_type());
    absl::Status failed;
    auto deliver = [&](std::string_view event, std::string_view data) -> absl::Status {
      if (event == "error") return StatusFromErrorBody(500, data);
      if (event == "gap" && b->stream.event_oneof().empty()) return absl::OkStatus();
      msg->Clear();
      RETURN_IF_ERROR(rest::StreamMessageFromSse(*b, absl::string_view(event.data(), event.size()),
                                                 absl::string_view(data.data(), data.size()),
                                                 msg.get()));
      return on_message(*msg);
    };
    if (b->stream.format() == api::v1::RestStream::SSE) {
      http::SseSplitter sse([&](const http::SseEvent& e, std::string_view) {
        if (!failed.ok() || e.data.empty()) return;
        failed = deliver(e.name.empty() ? "message" : e.name, e.data);
      });
      absl::Status s = rest_->Stream(
          call.verb, Target(call), call.body, headers, absl::Hours(24 * 365),
          [&](std::string_view piece) -> absl::Status {
            std::string error;
            if (!sse.Feed(piece, &error)) return absl::DataLossError(error);
            return failed;
          },
          cancel);
      return s.ok() ? failed : s;
    }
    LineSplitter lines;
    auto line = [&](const std::string& text) -> absl::Status {
      if (text.empty()) return absl::OkStatus();  // a keep-alive
      if (absl::StrContains(text, "\"error\"")) {
        auto j = nlohmann::json::parse(text, nullptr, false);
        if (j.is_object() && j.size() == 1 && j.contains("error")) {
          return StatusFromErrorBody(500, j["error"].dump());
        }
      }
      msg->Clear();
      RETURN_IF_ERROR(rest::ResponseFromJson(*b, text, msg.get()));
      return on_message(*msg);
    };
    absl::Status s = rest_->Stream(
        call.verb, Target(call), call.body, headers, absl::Hours(24 * 365),
        [&](std::string_view piece) -> absl::Status {
          for (const std::string& l : lines.Feed(piece)) RETURN_IF_ERROR(line(l));
          return absl::OkStatus();
        },
        cancel);
    if (!s.ok()) return s;
    return line(lines.TakeRest());
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
  static std::string Text(const gp::Message& m, const gp::FieldDescriptor* f) {
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

  std::unique_ptr<RestClient> rest_;
  std::vector<rest::Binding> bindings_;
};

class GrpcApiClient : public ApiClient {
 public:
  explicit GrpcApiClient(std::map<std::string, std::shared_ptr<grpc::Channel>> channels)
      : channels_(std::move(channels)) {}

  absl::Status Unary(const gp::MethodDescriptor* m, const gp::Message& req, gp::Message* resp,
                     absl::Duration timeout) override {
    ASSIGN_OR_RETURN(auto channel, Channel(m));
    auto ctx = MakeClientContext(timeout);
    return CallUnary(channel, m, ctx.get(), req, resp);
  }

  absl::Status Stream(const gp::MethodDescriptor* m, const gp::Message& req,
                      const std::function<absl::Status(const gp::Message&)>& on_message,
                      Canceller* cancel) override {
    ASSIGN_OR_RETURN(auto channel, Channel(m));
    auto ctx = MakeClientContext(absl::Hours(24 * 365));
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
    return s;
  }

 private:
  absl::StatusOr<std::shared_ptr<grpc::Channel>> Channel(const gp::MethodDescriptor* m) const {
    auto it = channels_.find(m->service()->full_name());
    if (it == channels_.end() || !it->second) {
      return absl::FailedPreconditionError(
          absl::StrCat("no address for ", m->service()->full_name()));
    }
    return it->second;
  }

  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
};

}  // namespace

const gp::MethodDescriptor* ApiClient::FindMethod(const std::string& full_name) {
  return gp::DescriptorPool::generated_pool()->FindMethodByName(full_name);
}

std::unique_ptr<ApiClient> MakeRestApiClient(std::unique_ptr<RestClient> rest,
                                             std::vector<rest::Binding> bindings) {
  return std::make_unique<RestApiClient>(std::move(rest), std::move(bindings));
}

std::unique_ptr<ApiClient> MakeGrpcApiClient(
    std::map<std::string, std::shared_ptr<grpc::Channel>> channels) {
  return std::make_unique<GrpcApiClient>(std::move(channels));
}

}  // namespace clawos::cli
