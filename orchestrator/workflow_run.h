// One workflow being run: the scheduler loop (ready steps started up to
// max_parallel, one step at a time per reused agent VM, retries after their
// backoff, failure policies, the workflow timeout, cancel) and one worker
// thread per attempt. Every change is written to the store before it is
// published, so a run can be rebuilt from the store after a crash and carry on.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "orchestrator/agent_limits.h"
#include "orchestrator/launcher_ops.h"
#include "orchestrator/orchestrator_metrics.h"
#include "orchestrator/spec.h"
#include "orchestrator/store.h"
#include "orchestrator/template.h"
#include "orchestrator/workflow_hub.h"
#include "orchestrator/workflow_proto.h"

namespace clawos::orchestrator {

struct RunDeps {
  Store* store;
  LauncherOps* launcher;
  LimitSetter* limits;  // may be null: agents with limits then fail to start
  OrchestratorMetrics* metrics = nullptr;
};

class WorkflowRun {
 public:
  WorkflowRun(RunDeps deps, WorkflowRow wf, WorkflowSpec spec, std::vector<StepRow> steps,
              std::vector<AgentVmRow> vms, std::shared_ptr<WorkflowHub> hub);
  ~WorkflowRun();  // Stop()

  void Start();
  void RequestCancel();
  // Daemon shutdown: the loop and workers end without recording anything more;
  // commands keep running in their VMs for the next start to attach to.
  void Stop();
  bool done();

 private:
  enum class Dep { kWaiting, kOk, kBlocked };
  struct Work;

  void Loop();
  void Advance();  // with mu_ held
  void StartAttempt(int i, bool resume);
  void RunWorker(int i, bool resume, Work work);
  // The labels that make a VM this workflow's, for one of its agents.
  std::map<std::string, std::string> Labels(const std::string& agent) const;
  // Records the attempt's VM as this workflow's (it has the labels).
  void RecordVm(const Work& work, const std::string& subject);
  absl::StatusOr<VmInfo> EnsureVm(const Work& work);
  // The plan's command, prompt and env, templates filled in.
  absl::Status RenderCommand(const Work& work, const TemplateResolver& resolve,
                             AttemptPlan& plan) const;
  void OnAttemptDone(int i, AttemptOutcome outcome);
  void FailWorkflow(const std::string& error);
  void CancelAll();
  void Finalize(std::unique_lock<std::mutex>& lock);
  void JoinWorkers(std::unique_lock<std::mutex>& lock);  // mu_ held by `lock`
  void RetireVm(const std::string& vm, bool keep_stopped);
  void SetStep(int i, int state, const std::string& error);
  void Publish(const std::string& step_id);
  Dep Resolve(int i) const;
  int Source(int i) const;
  bool Cancelled() const { return cancel_requested_ || stopping_ || failing_; }
  std::string VmFor(int i, int attempt) const;
  bool AgentHasWork(const std::string& agent) const;

  RunDeps deps_;
  WorkflowRow wf_;
  WorkflowSpec spec_;
  std::vector<StepRow> steps_;
  std::vector<AgentVmRow> vms_;
  std::shared_ptr<WorkflowHub> hub_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool cancel_requested_ = false;
  bool stopping_ = false;
  bool failing_ = false;
  bool done_ = false;
  int running_ = 0;
  std::set<std::string> busy_agents_;
  std::map<int, CancelToken*> tokens_;
  std::vector<std::thread> workers_;
  std::thread loop_;
};

}  // namespace clawos::orchestrator
