#include "cli/workflow_api.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/rest_client.h"
#include "common/grpc_client.h"
#include "common/proto_json.h"
#include "common/status.h"

namespace clawos::cli {
namespace {

constexpr absl::Duration kCallTimeout = absl::Seconds(45);

absl::Status Hint(const Context& ctx, absl::Status s) {
  if (s.code() != absl::StatusCode::kUnavailable) return s;
  return absl::UnavailableError(absl::StrCat(s.message(), " (is clawos-orchestrator running at ",
                                             ctx.orchestrator_addr,
                                             "? set --orchestrator or CLAWOS_ORCHESTRATOR_ADDR)"));
}

class GrpcWorkflowApi : public WorkflowApi {
 public:
  GrpcWorkflowApi(const Context& ctx, std::unique_ptr<opb::OrchestratorService::Stub> stub)
      : ctx_(ctx), stub_(std::move(stub)) {}

  absl::StatusOr<opb::Workflow> Submit(const opb::SubmitWorkflowRequest& req) override {
    return Unary<opb::Workflow>(&opb::OrchestratorService::Stub::SubmitWorkflow, req);
  }
  absl::StatusOr<opb::Workflow> Get(const std::string& name) override {
    opb::GetWorkflowRequest req;
    req.set_name(name);
    return Unary<opb::Workflow>(&opb::OrchestratorService::Stub::GetWorkflow, req);
  }
  absl::StatusOr<opb::ListWorkflowsResponse> List(const opb::ListWorkflowsRequest& req) override {
    return Unary<opb::ListWorkflowsResponse>(&opb::OrchestratorService::Stub::ListWorkflows, req);
  }
  absl::StatusOr<opb::Workflow> Cancel(const std::string& name) override {
    opb::CancelWorkflowRequest req;
    req.set_name(name);
    return Unary<opb::Workflow>(&opb::OrchestratorService::Stub::CancelWorkflow, req);
  }
  absl::Status Watch(const std::string& name,
                     const std::function<void(const opb::WorkflowEvent&)>& on_event) override {
    opb::WatchWorkflowRequest req;
    req.set_name(name);
    auto cctx = MakeClientContext(absl::Hours(24 * 7));
    auto reader = stub_->WatchWorkflow(cctx.get(), req);
    opb::WorkflowEvent e;
    while (reader->Read(&e)) on_event(e);
    return Hint(ctx_, FromGrpcStatus(reader->Finish()));
  }
  absl::StatusOr<opb::StepOutput> Output(const std::string& workflow,
                                         const std::string& step) override {
    opb::GetStepOutputRequest req;
    req.set_workflow(workflow);
    req.set_step(step);
    return Unary<opb::StepOutput>(&opb::OrchestratorService::Stub::GetStepOutput, req);
  }

 private:
  template <typename Resp, typename Fn, typename Req>
  absl::StatusOr<Resp> Unary(Fn method, const Req& req) {
    Resp resp;
    absl::Status s = CallStub(*stub_, method, req, &resp, kCallTimeout);
    if (!s.ok()) return Hint(ctx_, s);
    return resp;
  }

  Context ctx_;
  std::unique_ptr<opb::OrchestratorService::Stub> stub_;
};

std::string Path(const std::string& name) { return ResourcePath("workflows", name); }

class RestWorkflowApi : public WorkflowApi {
 public:
  explicit RestWorkflowApi(std::unique_ptr<RestClient> rest) : rest_(std::move(rest)) {}

  absl::StatusOr<opb::Workflow> Submit(const opb::SubmitWorkflowRequest& req) override {
    return Proto<opb::Workflow>("POST", "/v1/workflows", &req);
  }
  absl::StatusOr<opb::Workflow> Get(const std::string& name) override {
    return Proto<opb::Workflow>("GET", Path(name), nullptr);
  }
  absl::StatusOr<opb::ListWorkflowsResponse> List(const opb::ListWorkflowsRequest& req) override {
    return Proto<opb::ListWorkflowsResponse>(
        "GET",
        "/v1/workflows" + Query({{"page_size", PageSize(req.page_size())},
                                 {"page_token", req.page_token()},
                                 {"filter", req.filter()}}),
        nullptr);
  }
  absl::StatusOr<opb::Workflow> Cancel(const std::string& name) override {
    return Proto<opb::Workflow>("POST", Path(name) + ":cancel", nullptr);
  }
  absl::Status Watch(const std::string& name,
                     const std::function<void(const opb::WorkflowEvent&)>& on_event) override {
    return rest_->StreamEvents(Path(name) + "/events", {}, "workflow", absl::Hours(1),
                               [&](std::string_view data) {
                                 opb::WorkflowEvent e;
                                 RETURN_IF_ERROR(ParseProtoJson(data, &e));
                                 on_event(e);
                                 return absl::OkStatus();
                               });
  }
  absl::StatusOr<opb::StepOutput> Output(const std::string& workflow,
                                         const std::string& step) override {
    return Proto<opb::StepOutput>("GET", Path(workflow) + "/steps/" + UrlEncode(step) + "/output",
                                  nullptr);
  }

 private:
  template <typename Resp>
  absl::StatusOr<Resp> Proto(const std::string& method, const std::string& path,
                             const google::protobuf::Message* body) {
    Resp resp;
    if (auto s = rest_->CallProto(method, path, body, &resp, kCallTimeout); !s.ok()) return s;
    return resp;
  }
  std::unique_ptr<RestClient> rest_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<WorkflowApi>> MakeWorkflowApi(const Context& ctx) {
  if (ctx.direct) {
    auto ch = MakeChannel(ctx.orchestrator_addr, ctx.tls);
    if (!ch.ok()) return ch.status();
    return std::unique_ptr<WorkflowApi>(
        new GrpcWorkflowApi(ctx, opb::OrchestratorService::NewStub(*ch)));
  }
  auto token = FindToken(DefaultTokenPlaces(ctx));
  if (!token.ok()) return token.status();
  auto rest = RestClient::Make(ctx.url, ctx.ca_file, token->token, token->source);
  if (!rest.ok()) return rest.status();
  return std::unique_ptr<WorkflowApi>(new RestWorkflowApi(*std::move(rest)));
}

}  // namespace clawos::cli
