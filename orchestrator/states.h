// Which workflow and step states are final: shared by the orchestrator and
// its clients (the CLI), so a new state cannot be read two ways.
#pragma once

#include "clawos/orchestrator/v1/orchestrator.pb.h"

namespace clawos::orchestrator {

inline bool IsFinished(int workflow_state) {
  using W = ::clawos::orchestrator::v1::Workflow;
  return workflow_state == W::SUCCEEDED || workflow_state == W::FAILED ||
         workflow_state == W::CANCELLED;
}

inline bool IsTerminalStep(int step_state) {
  using S = ::clawos::orchestrator::v1::StepStatus;
  return step_state == S::SUCCEEDED || step_state == S::FAILED || step_state == S::SKIPPED ||
         step_state == S::CANCELLED;
}

}  // namespace clawos::orchestrator
