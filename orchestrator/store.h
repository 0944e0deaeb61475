// The orchestrator's SQLite state (<state>/orchestrator.db): workflows, their
// steps, every attempt, the captured outputs, the VMs each agent got. States are
// the numbers of the clawos.orchestrator.v1 enums. Times are Unix microseconds,
// 0 for unset.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/sqlite/db.h"
#include "orchestrator/step_runner.h"

namespace clawos::orchestrator {

struct WorkflowRow {
  std::string id;
  int64_t seq = 0;  // submission order
  std::string spec;
  std::string source;
  std::string display_name;
  std::vector<std::string> agents;  // the spec's agent names, in spec order
  int state = 0;
  std::string error;
  int64_t create_us = 0, start_us = 0, end_us = 0;
};

struct StepRow {
  std::string workflow_id;
  std::string step_id;
  int idx = 0;
  std::string agent;
  int state = 0;
  int attempts = 0;
  std::optional<int> exit_code;
  std::string error;
  std::string vm;
  std::string fallback_for;
  int64_t start_us = 0, end_us = 0;
  int64_t retry_at_us = 0;  // RETRY_WAIT: when the next attempt may start
};

struct AgentVmRow {
  std::string agent;
  std::string vm;
  std::string subject;
  bool deleted = false;
};

class Store {
 public:
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& path);

  // The workflow and its steps, in one transaction. ALREADY_EXISTS if the id is taken.
  absl::Status Create(WorkflowRow& wf, const std::vector<StepRow>& steps);
  absl::StatusOr<std::optional<WorkflowRow>> Get(const std::string& id);
  // Newest first; `before_seq` 0 for the first page; `state` 0 for any.
  absl::StatusOr<std::vector<WorkflowRow>> List(int state, int64_t before_seq, int limit);
  // Ids of workflows not finished (PENDING, RUNNING, CANCELLING), oldest first.
  absl::StatusOr<std::vector<std::string>> Unfinished();
  absl::StatusOr<int> CountUnfinished();
  absl::Status UpdateWorkflow(const WorkflowRow& wf);

  absl::StatusOr<std::vector<StepRow>> Steps(const std::string& workflow_id);
  absl::Status UpdateStep(const StepRow& step);
  // The step RUNNING with attempt `step.attempts` on `step.vm`, and the attempt's row.
  absl::Status BeginAttempt(const StepRow& step);
  // The attempt's end, its output and the step's new row, in one transaction.
  absl::Status FinishAttempt(const StepRow& step, const std::string& error,
                             const StepOutputData& output);
  // When attempt `attempt` of the step began (Unix µs); 0 if unknown.
  absl::StatusOr<int64_t> AttemptStart(const std::string& workflow_id, const std::string& step_id,
                                       int attempt);
  absl::StatusOr<std::optional<StepOutputData>> Output(const std::string& workflow_id,
                                                       const std::string& step_id);

  absl::Status AddAgentVm(const std::string& workflow_id, const AgentVmRow& vm);
  absl::Status MarkVmDeleted(const std::string& workflow_id, const std::string& vm);
  absl::StatusOr<std::vector<AgentVmRow>> AgentVms(const std::string& workflow_id);

 private:
  explicit Store(std::unique_ptr<sqlite::Db> db) : db_(std::move(db)) {}
  absl::Status PutStep(const StepRow& s);
  std::unique_ptr<sqlite::Db> db_;
};

}  // namespace clawos::orchestrator
