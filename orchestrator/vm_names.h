// The ids of a workflow's VMs at the launcher (1-63 of [a-z0-9-]). They never
// collide between workflows, nor between a workflow's VMs: an id is
// "<workflow-id>--<rest>", a workflow id never holds "--" and <rest> starts with
// a letter or a digit, so the first "--" ends the workflow id. <rest> is
//   <agent>                a reused agent's VM        (a letter first)
//   <attempt>-<step>       a fresh agent's attempt     (digits, '-', a letter)
// or, when that would make the id longer than 63 characters,
//   <agent index>          (digits only)
//   <attempt>-<step index> (digits, '-', digits).
// Labels (workflow, agent) still decide whether a VM is the workflow's: an id
// says where a VM would be, not whose it is (anyone may create any id).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace clawos::orchestrator {

// Short enough that the index forms above always fit in 63.
inline constexpr size_t kMaxWorkflowIdLength = 40;

// An id (spec.h's IsValidId) of at most kMaxWorkflowIdLength, without "--".
bool IsValidWorkflowId(std::string_view id);

std::string AgentVmId(const std::string& workflow_id, const std::string& agent, int agent_index);
std::string FreshVmId(const std::string& workflow_id, const std::string& step, int step_index,
                      int attempt);

}  // namespace clawos::orchestrator
