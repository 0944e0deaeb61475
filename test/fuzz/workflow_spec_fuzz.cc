// libFuzzer target for the workflow spec parser (orchestrator/spec.h): YAML
// or JSON from a client of the orchestrator, parsed with yaml-cpp and checked.
//
// The input is the spec's text. An exception leaving ParseSpec is a crash
// (std::terminate). Properties checked beside the sanitizers: an error is
// INVALID_ARGUMENT and names the source; a spec that parses is runnable as
// the header promises: 1..32 agents and 1..256 steps with valid, distinct
// ids, every step's agent known, `needs` naming known steps other than
// itself, once each, with no cycle, fallbacks pointing both ways, a prompt
// step with a model, a string exec run by sh -c whose templates the shell
// check accepts, and every template naming only steps the step depends on.
#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "orchestrator/shell_template.h"
#include "orchestrator/spec.h"
#include "orchestrator/template.h"
#include "test/fuzz/require.h"

namespace {

using namespace clawos::orchestrator;

using clawos::fuzz::Require;

// The steps `id` depends on, directly or not.
std::set<std::string> Ancestors(const WorkflowSpec& w, const std::string& id) {
  std::set<std::string> out;
  std::vector<std::string> todo = {id};
  while (!todo.empty()) {
    const StepSpec* s = w.Step(todo.back());
    todo.pop_back();
    Require(s != nullptr);
    for (const auto& n : s->needs) {
      if (out.insert(n).second) todo.push_back(n);
    }
  }
  return out;
}

void RequireTemplates(const std::string& text, const std::set<std::string>& allowed) {
  auto refs = ParseTemplate(text);
  Require(refs.ok());
  for (const TemplateRef& r : *refs) {
    Require(r.kind == TemplateRef::kWorkflowId || allowed.count(r.step));
  }
}

void CheckSpec(const WorkflowSpec& w) {
  Require(!w.agents.empty() && w.agents.size() <= static_cast<size_t>(kMaxAgents));
  Require(!w.steps.empty() && w.steps.size() <= static_cast<size_t>(kMaxSteps));
  Require(w.name.size() <= 200 && w.max_parallel >= 1 && w.max_parallel <= 64);
  std::set<std::string> agents, steps;
  for (const AgentSpec& a : w.agents) {
    Require(IsValidId(a.name) && agents.insert(a.name).second);
    Require(a.image.rfind("images/", 0) == 0 && IsValidId(a.image.substr(7)));
  }
  for (const StepSpec& s : w.steps) Require(IsValidId(s.id) && steps.insert(s.id).second);
  // Kahn's algorithm: every step can be ordered after what it needs.
  std::map<std::string, int> waiting;
  for (const StepSpec& s : w.steps) {
    const AgentSpec* agent = w.Agent(s.agent);
    Require(agent != nullptr);
    std::set<std::string> seen;
    for (const auto& n : s.needs) Require(n != s.id && steps.count(n) && seen.insert(n).second);
    waiting[s.id] = static_cast<int>(s.needs.size());
    if (s.prompt_kind) Require(!s.model.empty() || !agent->model.empty());
    if (!s.prompt_kind) Require(!s.argv.empty());
    if (s.shell) {
      Require(s.argv.size() == 3 && s.argv[0] == "sh" && s.argv[1] == "-c");
      Require(CheckShellTemplate(s.argv[2]).ok());
    }
    if (!s.fallback.empty()) {
      const StepSpec* fb = w.Step(s.fallback);
      Require(fb != nullptr && fb->fallback_for == s.id && s.on_failure == OnFailure::kFallback);
    }
    if (!s.fallback_for.empty()) Require(w.Step(s.fallback_for)->fallback == s.id);
    const std::set<std::string> allowed = Ancestors(w, s.id);
    for (const auto& word : s.argv) RequireTemplates(word, allowed);
    RequireTemplates(s.prompt, allowed);
    for (const auto& [k, v] : s.env) RequireTemplates(v, allowed);
  }
  size_t ordered = 0;
  for (bool progress = true; progress;) {
    progress = false;
    for (const StepSpec& s : w.steps) {
      if (waiting[s.id] != 0) continue;
      waiting[s.id] = -1;
      ++ordered;
      progress = true;
      for (const StepSpec& t : w.steps) {
        for (const auto& n : t.needs) {
          if (n == s.id) --waiting[t.id];
        }
      }
    }
  }
  Require(ordered == w.steps.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto spec = ParseSpec(text, "fuzz.yaml");
  if (!spec.ok()) {
    Require(spec.status().code() == absl::StatusCode::kInvalidArgument);
    Require(spec.status().message().rfind("fuzz.yaml", 0) == 0);
    return 0;
  }
  CheckSpec(*spec);
  return 0;
}
