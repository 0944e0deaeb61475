// gRPC glue for clawos.orchestrator.v1.OrchestratorService over the Engine.
#pragma once

#include "clawos/orchestrator/v1/orchestrator.grpc.pb.h"
#include "orchestrator/engine.h"

namespace clawos::orchestrator {

class OrchestratorService final : public pb::OrchestratorService::Service {
 public:
  explicit OrchestratorService(Engine& engine) : engine_(engine) {}

  grpc::Status SubmitWorkflow(grpc::ServerContext* ctx, const pb::SubmitWorkflowRequest* req,
                              pb::Workflow* resp) override;
  grpc::Status GetWorkflow(grpc::ServerContext* ctx, const pb::GetWorkflowRequest* req,
                           pb::Workflow* resp) override;
  grpc::Status ListWorkflows(grpc::ServerContext* ctx, const pb::ListWorkflowsRequest* req,
                             pb::ListWorkflowsResponse* resp) override;
  grpc::Status CancelWorkflow(grpc::ServerContext* ctx, const pb::CancelWorkflowRequest* req,
                              pb::Workflow* resp) override;
  grpc::Status WatchWorkflow(grpc::ServerContext* ctx, const pb::WatchWorkflowRequest* req,
                             grpc::ServerWriter<pb::WorkflowEvent>* writer) override;
  grpc::Status GetStepOutput(grpc::ServerContext* ctx, const pb::GetStepOutputRequest* req,
                             pb::StepOutput* resp) override;

 private:
  Engine& engine_;
};

}  // namespace clawos::orchestrator
