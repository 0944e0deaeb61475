// Store rows to clawos.orchestrator.v1 messages.
#pragma once

#include <vector>

#include "clawos/orchestrator/v1/orchestrator.pb.h"
#include "orchestrator/states.h"
#include "orchestrator/store.h"

namespace clawos::orchestrator {

namespace pb = ::clawos::orchestrator::v1;

pb::Workflow ToProto(const WorkflowRow& wf, const std::vector<StepRow>& steps,
                     const std::vector<AgentVmRow>& vms, bool with_spec);
pb::StepOutput ToProto(const std::string& workflow_id, const std::string& step,
                       const StepOutputData& o);

}  // namespace clawos::orchestrator
