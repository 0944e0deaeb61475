// The orchestrator's core, without gRPC: workflows submitted, run, listed,
// cancelled and watched, and resumed from the store after a restart.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "orchestrator/agent_limits.h"
#include "orchestrator/launcher_ops.h"
#include "orchestrator/store.h"
#include "orchestrator/vm_names.h"
#include "orchestrator/workflow_hub.h"
#include "orchestrator/workflow_proto.h"
#include "orchestrator/workflow_run.h"

namespace clawos::orchestrator {

struct EngineOptions {
  // Unfinished workflows at once; more is RESOURCE_EXHAUSTED.
  int max_unfinished = 64;
};

class Engine {
 public:
  // `metrics` may be null.
  Engine(Store& store, LauncherOps& launcher, LimitSetter* limits, EngineOptions options,
         OrchestratorMetrics* metrics = nullptr);
  ~Engine();  // Shutdown()

  // Picks up every unfinished workflow in the store. Call once, before serving.
  absl::Status Resume();
  // Stops every run without recording anything more (see WorkflowRun::Stop).
  void Shutdown();

  absl::StatusOr<pb::Workflow> Submit(const pb::SubmitWorkflowRequest& req);
  absl::StatusOr<pb::Workflow> Get(const std::string& name, bool with_spec = true);
  absl::StatusOr<pb::ListWorkflowsResponse> List(const pb::ListWorkflowsRequest& req);
  absl::StatusOr<pb::Workflow> Cancel(const std::string& name);
  // Sends the workflow now, then its events until it is finished (OK) or
  // `send` returns false / `cancelled` returns true (CANCELLED).
  absl::Status Watch(const std::string& name,
                     const std::function<bool(const pb::WorkflowEvent&)>& send,
                     const std::function<bool()>& cancelled);
  absl::StatusOr<pb::StepOutput> Output(const std::string& workflow, const std::string& step);

  // Workflows running now (for metrics and tests).
  int active();

 private:
  absl::StatusOr<std::string> ParseName(const std::string& name);
  absl::Status StartRun(const WorkflowRow& wf);
  void Reap();

  Store& store_;
  LauncherOps& launcher_;
  LimitSetter* limits_;
  OrchestratorMetrics* metrics_;
  EngineOptions options_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<WorkflowRun>> runs_;
  std::map<std::string, std::shared_ptr<WorkflowHub>> hubs_;
  bool shut_down_ = false;
};

}  // namespace clawos::orchestrator
