#include "orchestrator/orchestrator_metrics.h"

namespace clawos::orchestrator {

OrchestratorMetrics::OrchestratorMetrics(prometheus::Registry& registry)
    : running_(&prometheus::BuildGauge()
                    .Name("clawos_orchestrator_workflows_running")
                    .Help("Workflows being run by this process now.")
                    .Register(registry)
                    .Add({})),
      workflows_(&prometheus::BuildCounter()
                      .Name("clawos_orchestrator_workflows_finished_total")
                      .Help("Workflows finished, by final state.")
                      .Register(registry)),
      attempts_(
          &prometheus::BuildCounter()
               .Name("clawos_orchestrator_attempts_total")
               .Help("Step attempts finished, by outcome (succeeded, failed, retry, cancelled).")
               .Register(registry)) {}

}  // namespace clawos::orchestrator
