#include "orchestrator/orchestrator_service.h"

#include "common/grpc_server.h"
#include "common/grpc_status.h"
#include "common/grpc_util.h"
#include "common/request_id.h"

namespace clawos::orchestrator {
namespace {

// Runs `fn` (returning StatusOr<T>) and stores its value.
template <typename T, typename Fn>
grpc::Status Answer(T* resp, Fn fn) {
  auto r = fn();
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

}  // namespace

grpc::Status OrchestratorService::SubmitWorkflow(grpc::ServerContext* ctx,
                                                 const pb::SubmitWorkflowRequest* req,
                                                 pb::Workflow* resp) {
  return Answer(resp, [&] { return engine_.Submit(*req); });
}

grpc::Status OrchestratorService::GetWorkflow(grpc::ServerContext* ctx,
                                              const pb::GetWorkflowRequest* req,
                                              pb::Workflow* resp) {
  return Answer(resp, [&] { return engine_.Get(req->name()); });
}

grpc::Status OrchestratorService::ListWorkflows(grpc::ServerContext* ctx,
                                                const pb::ListWorkflowsRequest* req,
                                                pb::ListWorkflowsResponse* resp) {
  return Answer(resp, [&] { return engine_.List(*req); });
}

grpc::Status OrchestratorService::CancelWorkflow(grpc::ServerContext* ctx,
                                                 const pb::CancelWorkflowRequest* req,
                                                 pb::Workflow* resp) {
  return Answer(resp, [&] { return engine_.Cancel(req->name()); });
}

grpc::Status OrchestratorService::GetStepOutput(grpc::ServerContext* ctx,
                                                const pb::GetStepOutputRequest* req,
                                                pb::StepOutput* resp) {
  return Answer(resp, [&] { return engine_.Output(req->workflow(), req->step()); });
}

grpc::Status OrchestratorService::WatchWorkflow(grpc::ServerContext* ctx,
                                                const pb::WatchWorkflowRequest* req,
                                                grpc::ServerWriter<pb::WorkflowEvent>* writer) {
  absl::Status s = engine_.Watch(
      req->name(), [&](const pb::WorkflowEvent& e) { return writer->Write(e); },
      [&] { return ctx->IsCancelled(); });
  return ToGrpcStatus(s);
}

}  // namespace clawos::orchestrator
