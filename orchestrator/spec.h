// A workflow spec (YAML or JSON; docs/workflow-spec.md, docs/workflow.schema.json)
// parsed and checked: every error names the source, the line and the field
// ("flow.yaml:12: steps[2].needs[0]: unknown step \"bild\""), and a spec that
// parses is runnable: known agents and steps, an acyclic `needs` graph, templates
// that name steps the step depends on.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace clawos::orchestrator {

inline constexpr size_t kMaxSpecBytes = 256 * 1024;
inline constexpr int kMaxSteps = 256;
inline constexpr int kMaxAgents = 32;

struct AgentLimits {
  std::optional<int64_t> requests_per_minute;
  std::optional<int64_t> tokens_per_minute;
  std::optional<int64_t> budget_tokens;
  absl::Duration budget_window = absl::Hours(24);
  bool any() const { return requests_per_minute || tokens_per_minute || budget_tokens; }
};

struct AgentSpec {
  std::string name;
  std::string image = "images/agent";  // what `clawos up` imports
  int vcpus = 1;
  int memory_mib = 256;
  std::string model;   // prompt steps' model; empty: the step must name one
  bool fresh = false;  // a new VM per step attempt instead of one reused VM
  std::map<std::string, std::string> env;
  AgentLimits limits;
};

enum class OnFailure { kFail, kContinue, kFallback };

struct StepSpec {
  std::string id;
  int line = 0;
  std::string agent;
  bool prompt_kind = false;
  std::vector<std::string> argv;  // exec: templated words
  bool shell = false;             // exec was a string: argv is {sh, -c, it} (shell_template.h)
  std::string prompt;             // prompt: templated text
  std::string model;              // prompt: overrides the agent's
  int max_iterations = 10;        // prompt: the agent loop's bound
  std::vector<std::string> needs;
  std::map<std::string, std::string> env;  // templated values
  std::string workdir = "/workspace";
  absl::Duration timeout = absl::Minutes(30);
  int retries = 0;
  absl::Duration backoff = absl::Seconds(5);  // doubled before each further retry
  OnFailure on_failure = OnFailure::kFail;
  std::string fallback;      // with kFallback: the step that runs instead
  std::string fallback_for;  // set on a fallback step: the step it stands in for
};

enum class Retention { kNever, kOnFailure, kAlways };

struct WorkflowSpec {
  std::string name;
  int max_parallel = 4;
  std::optional<absl::Duration> timeout;
  Retention retain_vms = Retention::kNever;
  std::vector<AgentSpec> agents;
  std::vector<StepSpec> steps;

  const AgentSpec* Agent(std::string_view name) const;
  const StepSpec* Step(std::string_view id) const;
  int StepIndex(std::string_view id) const;  // -1 if absent
};

// Parses and checks `text`. `source` names it in errors ("flow.yaml"; empty:
// "spec"). INVALID_ARGUMENT on any error.
absl::StatusOr<WorkflowSpec> ParseSpec(std::string_view text, std::string_view source = "");

// The field names each object of a spec may have ("workflow", "agent",
// "limits", "step"); anything else is refused. docs/workflow.schema.json
// lists the same (orchestrator_test checks it).
const std::map<std::string, std::set<std::string>>& SpecFields();

// True if `id` is 1-63 of [a-z0-9-] starting with a letter.
bool IsValidId(std::string_view id);

}  // namespace clawos::orchestrator
