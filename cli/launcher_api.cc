#include "cli/launcher_api.h"

#include <algorithm>
#include <deque>
#include <set>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/launcher_client.h"
#include "common/grpc_client.h"
#include "common/proto_json.h"
#include "common/status.h"

namespace clawos::cli {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Unary calls wait this long unless they say otherwise; the control plane
// gives up on the launcher after 30 s, so a REST call gets a little more.
constexpr absl::Duration kCallTimeout = absl::Seconds(30);
constexpr absl::Duration kRestMargin = absl::Seconds(15);

// ---- gRPC straight to clawos-vm-launcher -------------------------------------------------

class GrpcLauncherApi : public LauncherApi {
 public:
  GrpcLauncherApi(const Context& ctx, std::unique_ptr<lpb::LauncherService::Stub> stub)
      : ctx_(ctx), stub_(std::move(stub)) {}

  absl::StatusOr<lpb::Vm> GetVm(const lpb::GetVmRequest& req) override {
    return Unary<lpb::Vm>(&lpb::LauncherService::Stub::GetVm, req);
  }
  absl::StatusOr<lpb::ListVmsResponse> ListVms(const lpb::ListVmsRequest& req) override {
    return Unary<lpb::ListVmsResponse>(&lpb::LauncherService::Stub::ListVms, req);
  }
  absl::StatusOr<lpb::Vm> CreateVm(const lpb::CreateVmRequest& req) override {
    return Unary<lpb::Vm>(&lpb::LauncherService::Stub::CreateVm, req,
                          req.start() ? absl::Minutes(10) : kCallTimeout);
  }
  absl::StatusOr<lpb::Vm> StartVm(const lpb::StartVmRequest& req, absl::Duration timeout) override {
    return Unary<lpb::Vm>(&lpb::LauncherService::Stub::StartVm, req, timeout);
  }
  absl::StatusOr<lpb::Vm> StopVm(const lpb::StopVmRequest& req, absl::Duration timeout) override {
    return Unary<lpb::Vm>(&lpb::LauncherService::Stub::StopVm, req, timeout);
  }
  absl::Status DeleteVm(const lpb::DeleteVmRequest& req) override {
    return Unary<google::protobuf::Empty>(&lpb::LauncherService::Stub::DeleteVm, req,
                                          absl::Minutes(2))
        .status();
  }
  absl::StatusOr<lpb::ListImagesResponse> ListImages(const lpb::ListImagesRequest& req) override {
    return Unary<lpb::ListImagesResponse>(&lpb::LauncherService::Stub::ListImages, req);
  }
  absl::StatusOr<lpb::Image> ImportImage(const lpb::ImportImageRequest& req) override {
    return Unary<lpb::Image>(&lpb::LauncherService::Stub::ImportImage, req, absl::Minutes(10));
  }
  absl::Status DeleteImage(const lpb::DeleteImageRequest& req) override {
    return Unary<google::protobuf::Empty>(&lpb::LauncherService::Stub::DeleteImage, req).status();
  }

  absl::Status ExecVm(const lpb::ExecVmRequest& req,
                      const std::function<void(const lpb::ExecVmResponse&)>& on_message) override {
    auto cctx = MakeClientContext(absl::Hours(24));
    auto reader = stub_->ExecVm(cctx.get(), req);
    lpb::ExecVmResponse m;
    while (reader->Read(&m)) on_message(m);
    grpc::Status s = reader->Finish();
    return s.ok() ? absl::OkStatus() : LauncherError(ctx_, s);
  }

  absl::Status StreamVmLogs(const lpb::StreamVmLogsRequest& req,
                            const std::function<void(const lpb::LogEntry&)>& on_entry) override {
    auto cctx = MakeClientContext(absl::Hours(24 * 365));
    auto reader = stub_->StreamVmLogs(cctx.get(), req);
    lpb::LogEntry e;
    while (reader->Read(&e)) on_entry(e);
    grpc::Status s = reader->Finish();
    return s.ok() ? absl::OkStatus() : LauncherError(ctx_, s);
  }

  absl::Status WatchVms(const std::function<void(const lpb::VmEvent&)>& on_event,
                        Canceller* cancel) override {
    auto cctx = MakeClientContext(absl::Hours(24 * 365));
    lpb::WatchVmsRequest req;
    auto reader = stub_->WatchVms(cctx.get(), req);
    grpc::ClientContext* raw = cctx.get();
    if (cancel) cancel->Set([raw] { raw->TryCancel(); });
    lpb::VmEvent e;
    while (reader->Read(&e)) on_event(e);
    if (cancel) cancel->Set(nullptr);
    grpc::Status s = reader->Finish();
    if (cancel && cancel->cancelled()) return absl::CancelledError("the watch was cancelled");
    return s.ok() ? absl::OkStatus() : LauncherError(ctx_, s);
  }

 private:
  template <typename Resp, typename Fn, typename Req>
  absl::StatusOr<Resp> Unary(Fn method, const Req& req, absl::Duration timeout = kCallTimeout) {
    Resp resp;
    auto cctx = MakeClientContext(timeout);
    grpc::Status s = (stub_.get()->*method)(cctx.get(), req, &resp);
    if (!s.ok()) return LauncherError(ctx_, s);
    return resp;
  }

  Context ctx_;
  std::unique_ptr<lpb::LauncherService::Stub> stub_;
};

// ---- REST through clawos-controlplane -----------------------------------------------------

std::string VmPath(const std::string& name) { return ResourcePath("vms", name); }

class RestLauncherApi : public LauncherApi {
 public:
  RestLauncherApi(const Context& ctx, std::unique_ptr<RestClient> rest)
      : ctx_(ctx), rest_(std::move(rest)) {}

  absl::StatusOr<lpb::Vm> GetVm(const lpb::GetVmRequest& req) override {
    return Proto<lpb::Vm>("GET", VmPath(req.name()), nullptr);
  }
  absl::StatusOr<lpb::ListVmsResponse> ListVms(const lpb::ListVmsRequest& req) override {
    return Proto<lpb::ListVmsResponse>("GET",
                                       "/v1/vms" + Query({{"page_size", PageSize(req.page_size())},
                                                          {"page_token", req.page_token()},
                                                          {"filter", req.filter()}}),
                                       nullptr);
  }
  absl::StatusOr<lpb::Vm> CreateVm(const lpb::CreateVmRequest& req) override {
    return Proto<lpb::Vm>(
        "POST", "/v1/vms", &req,
        req.start() ? absl::Minutes(10) + kRestMargin : kCallTimeout + kRestMargin);
  }
  absl::StatusOr<lpb::Vm> StartVm(const lpb::StartVmRequest& req, absl::Duration timeout) override {
    return Proto<lpb::Vm>("POST", VmPath(req.name()) + ":start", &req, timeout);
  }
  absl::StatusOr<lpb::Vm> StopVm(const lpb::StopVmRequest& req, absl::Duration timeout) override {
    return Proto<lpb::Vm>("POST", VmPath(req.name()) + ":stop", &req, timeout);
  }
  absl::Status DeleteVm(const lpb::DeleteVmRequest& req) override {
    return Proto<google::protobuf::Empty>("DELETE",
                                          VmPath(req.name()) + (req.force() ? "?force=true" : ""),
                                          nullptr, absl::Minutes(2))
        .status();
  }
  absl::StatusOr<lpb::ListImagesResponse> ListImages(const lpb::ListImagesRequest& req) override {
    return Proto<lpb::ListImagesResponse>(
        "GET",
        "/v1/images" +
            Query({{"page_size", PageSize(req.page_size())}, {"page_token", req.page_token()}}),
        nullptr);
  }
  absl::StatusOr<lpb::Image> ImportImage(const lpb::ImportImageRequest& req) override {
    return Proto<lpb::Image>("POST", "/v1/images", &req, absl::Minutes(10) + kRestMargin);
  }
  absl::Status DeleteImage(const lpb::DeleteImageRequest& req) override {
    auto direct = MakeGrpcLauncherApi(ctx_);
    if (!direct.ok()) return direct.status();
    return (*direct)->DeleteImage(req);
  }

  // POST /v1/vms/{id}:exec answers NDJSON: one ExecVmResponse per line, and
  // a failure after the stream began as a last line {"error": {...}}.
  absl::Status ExecVm(const lpb::ExecVmRequest& req,
                      const std::function<void(const lpb::ExecVmResponse&)>& on_message) override {
    LineSplitter lines;
    auto line = [&](const std::string& text) -> absl::Status {
      if (text.empty()) return absl::OkStatus();
      if (absl::StrContains(text, "\"error\"")) {
        auto j = nlohmann::json::parse(text, nullptr, false);
        if (j.is_object() && j.contains("error")) {
          return StatusFromErrorBody(500, j["error"].dump());
        }
      }
      lpb::ExecVmResponse m;
      if (auto s = ParseProtoJson(text, &m); !s.ok()) return s;
      on_message(m);
      return absl::OkStatus();
    };
    absl::Status s = rest_->Stream("POST", VmPath(req.name()) + ":exec", clawos::ToJson(req),
                                   {{"accept", "application/x-ndjson"}}, absl::Hours(24),
                                   [&](std::string_view piece) {
                                     for (const std::string& l : lines.Feed(piece)) {
                                       if (auto e = line(l); !e.ok()) return e;
                                     }
                                     return absl::OkStatus();
                                   });
    if (!s.ok()) return s;
    return line(lines.TakeRest());
  }

  // GET /v1/vms/{id}/logs answers server-sent events. The route has no
  // source filter: the lines of other sources are dropped here, and a tail of
  // N lines of some sources is taken from every stored line.
  absl::Status StreamVmLogs(const lpb::StreamVmLogsRequest& req,
                            const std::function<void(const lpb::LogEntry&)>& on_entry) override {
    std::set<int> sources(req.sources().begin(), req.sources().end());
    auto wanted = [&sources](const lpb::LogEntry& e) {
      return sources.empty() || sources.count(e.source()) > 0;
    };
    auto filtered = [&](const lpb::LogEntry& e) {
      if (wanted(e)) on_entry(e);
    };
    if (sources.empty() || req.tail_lines() <= 0 || req.after_sequence() > 0) {
      return Logs(req, filtered);
    }
    lpb::StreamVmLogsRequest stored = req;
    stored.set_follow(false);
    stored.set_tail_lines(0);
    std::deque<lpb::LogEntry> last;
    int64_t seen = 0;
    absl::Status s = Logs(stored, [&](const lpb::LogEntry& e) {
      seen = std::max(seen, e.sequence());
      if (!wanted(e)) return;
      last.push_back(e);
      if (last.size() > static_cast<size_t>(req.tail_lines())) last.pop_front();
    });
    if (!s.ok()) return s;
    for (const auto& e : last) on_entry(e);
    if (!req.follow()) return absl::OkStatus();
    lpb::StreamVmLogsRequest rest = req;
    rest.set_tail_lines(0);
    rest.set_after_sequence(seen);
    return Logs(rest, filtered);
  }

  // GET /v1/events: the launcher's VmEvents are the "vm" events.
  absl::Status WatchVms(const std::function<void(const lpb::VmEvent&)>& on_event,
                        Canceller* cancel) override {
    return rest_->StreamEvents(
        "/v1/events", {}, "vm", absl::Hours(1),
        [&](std::string_view data) {
          lpb::VmEvent e;
          RETURN_IF_ERROR(ParseProtoJson(data, &e));
          on_event(e);
          return absl::OkStatus();
        },
        cancel);
  }

 private:
  template <typename Resp>
  absl::StatusOr<Resp> Proto(const std::string& method, const std::string& path,
                             const google::protobuf::Message* body,
                             absl::Duration timeout = kCallTimeout + kRestMargin) {
    Resp resp;
    if (auto s = rest_->CallProto(method, path, body, &resp, timeout); !s.ok()) return s;
    return resp;
  }

  absl::Status Logs(const lpb::StreamVmLogsRequest& req,
                    const std::function<void(const lpb::LogEntry&)>& on_entry) {
    Headers headers;
    if (req.after_sequence() > 0) {
      headers.emplace_back("last-event-id", std::to_string(req.after_sequence()));
    }
    std::string path =
        VmPath(req.name()) + "/logs" +
        Query({{"follow", req.follow() ? "true" : ""},
               {"tail_lines", req.tail_lines() > 0 ? std::to_string(req.tail_lines()) : ""}});
    return rest_->StreamEvents(path, headers, "log", absl::Hours(24), [&](std::string_view data) {
      lpb::LogEntry e;
      RETURN_IF_ERROR(ParseProtoJson(data, &e));
      on_entry(e);
      return absl::OkStatus();
    });
  }

  Context ctx_;
  std::unique_ptr<RestClient> rest_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<LauncherApi>> MakeGrpcLauncherApi(const Context& ctx) {
  auto stub = LauncherStub(ctx);
  if (!stub.ok()) return stub.status();
  return std::unique_ptr<LauncherApi>(new GrpcLauncherApi(ctx, *std::move(stub)));
}

absl::StatusOr<std::unique_ptr<LauncherApi>> MakeLauncherApi(const Context& ctx) {
  if (ctx.direct) return MakeGrpcLauncherApi(ctx);
  auto token = FindToken(DefaultTokenPlaces(ctx));
  if (!token.ok()) return token.status();
  auto rest = RestClient::Make(ctx.url, ctx.ca_file, token->token, token->source);
  if (!rest.ok()) return rest.status();
  return std::unique_ptr<LauncherApi>(new RestLauncherApi(ctx, *std::move(rest)));
}

}  // namespace clawos::cli
