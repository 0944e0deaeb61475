#include "orchestrator/vm_names.h"

#include "absl/strings/str_cat.h"
#include "orchestrator/spec.h"

namespace clawos::orchestrator {
namespace {

constexpr size_t kMaxVmId = 63;

}  // namespace

bool IsValidWorkflowId(std::string_view id) {
  return IsValidId(id) && id.size() <= kMaxWorkflowIdLength && id.find("--") == id.npos;
}

std::string AgentVmId(const std::string& workflow_id, const std::string& agent, int agent_index) {
  std::string id = absl::StrCat(workflow_id, "--", agent);
  return id.size() <= kMaxVmId ? id : absl::StrCat(workflow_id, "--", agent_index);
}

std::string FreshVmId(const std::string& workflow_id, const std::string& step, int step_index,
                      int attempt) {
  std::string id = absl::StrCat(workflow_id, "--", attempt, "-", step);
  return id.size() <= kMaxVmId ? id : absl::StrCat(workflow_id, "--", attempt, "-", step_index);
}

}  // namespace clawos::orchestrator
