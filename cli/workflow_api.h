// The orchestrator's operations for `clawos workflow`, over REST through
// clawos-controlplane (the default) or gRPC straight to clawos-orchestrator
// (--direct: --orchestrator). Same messages and statuses either way.
#pragma once

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "clawos/orchestrator/v1/orchestrator.grpc.pb.h"
#include "cli/context.h"

namespace clawos::cli {

namespace opb = ::clawos::orchestrator::v1;

class WorkflowApi {
 public:
  virtual ~WorkflowApi() = default;
  virtual absl::StatusOr<opb::Workflow> Submit(const opb::SubmitWorkflowRequest& req) = 0;
  virtual absl::StatusOr<opb::Workflow> Get(const std::string& name) = 0;
  virtual absl::StatusOr<opb::ListWorkflowsResponse> List(const opb::ListWorkflowsRequest& req) = 0;
  virtual absl::StatusOr<opb::Workflow> Cancel(const std::string& name) = 0;
  // The workflow now, then each change, until it is finished (OK).
  virtual absl::Status Watch(const std::string& name,
                             const std::function<void(const opb::WorkflowEvent&)>& on_event) = 0;
  virtual absl::StatusOr<opb::StepOutput> Output(const std::string& workflow,
                                                 const std::string& step) = 0;
};

absl::StatusOr<std::unique_ptr<WorkflowApi>> MakeWorkflowApi(const Context& ctx);

}  // namespace clawos::cli
