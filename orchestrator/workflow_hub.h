// The events of one workflow for its watchers (WatchWorkflow): the one hub
// of common/event_hub.h, numbered from 1, the last 128 kept (each holds the
// whole workflow), closed after the final one.
#pragma once

#include "clawos/orchestrator/v1/orchestrator.pb.h"
#include "common/event_hub.h"

namespace clawos::orchestrator {

using WorkflowHub = EventHub<clawos::orchestrator::v1::WorkflowEvent>;
inline constexpr size_t kWorkflowEventsKept = 128;

}  // namespace clawos::orchestrator
