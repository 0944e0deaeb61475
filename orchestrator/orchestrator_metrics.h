// The orchestrator's Prometheus families: workflows running now, workflows
// finished by state, attempts finished by outcome.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <string>

namespace clawos::orchestrator {

class OrchestratorMetrics {
 public:
  explicit OrchestratorMetrics(prometheus::Registry& registry);
  void RunStarted() { running_->Increment(); }
  void RunEnded() { running_->Decrement(); }
  // `state`: SUCCEEDED, FAILED or CANCELLED.
  void WorkflowFinished(const std::string& state) {
    workflows_->Add({{"state", state}}).Increment();
  }
  // `outcome`: succeeded, failed, retry, cancelled.
  void AttemptFinished(const std::string& outcome) {
    attempts_->Add({{"outcome", outcome}}).Increment();
  }

 private:
  prometheus::Gauge* running_;
  prometheus::Family<prometheus::Counter>* workflows_;
  prometheus::Family<prometheus::Counter>* attempts_;
};

}  // namespace clawos::orchestrator
