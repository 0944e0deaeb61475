#include "orchestrator/spec.h"

#include <yaml-cpp/yaml.h>

#include <functional>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/duration.h"
#include "orchestrator/shell_template.h"
#include "orchestrator/template.h"

namespace clawos::orchestrator {
namespace {

// One error, raised inside the parser only (never leaves ParseSpec).
struct SpecError {
  std::string message;
};

class Parser {
 public:
  explicit Parser(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void Fail(const YAML::Node& at, std::string_view field, std::string_view why) const {
    int line = at.IsDefined() && at.Mark().line >= 0 ? at.Mark().line + 1 : 0;
    FailAt(line, field, why);
  }
  [[noreturn]] void FailAt(int line, std::string_view field, std::string_view why) const {
    std::string where = line > 0 ? absl::StrCat(source_, ":", line) : source_;
    throw SpecError{absl::StrCat(where, ": ", std::string(field), ": ", std::string(why))};
  }

  // The entries of a mapping, refusing duplicate and unknown keys.
  std::vector<std::pair<std::string, YAML::Node>> Entries(
      const YAML::Node& map, std::string_view field, const std::set<std::string>& allowed) const {
    if (!map.IsMap()) Fail(map, field, "must be a mapping");
    std::vector<std::pair<std::string, YAML::Node>> out;
    std::set<std::string> seen;
    for (const auto& kv : map) {
      if (!kv.first.IsScalar()) Fail(kv.first, field, "keys must be plain strings");
      std::string key = kv.first.Scalar();
      std::string sub = field.empty() ? key : absl::StrCat(std::string(field), ".", key);
      if (!allowed.empty() && !allowed.count(key)) {
        Fail(kv.first, sub,
             absl::StrCat("unknown field (expected one of: ", absl::StrJoin(allowed, ", "), ")"));
      }
      if (!seen.insert(key).second) Fail(kv.first, sub, "appears twice");
      out.emplace_back(key, kv.second);
    }
    return out;
  }

  std::string String(const YAML::Node& n, std::string_view field) const {
    if (!n.IsScalar()) Fail(n, field, "must be a string");
    return n.Scalar();
  }
  int64_t Int(const YAML::Node& n, std::string_view field, int64_t lo, int64_t hi) const {
    int64_t v = 0;
    if (!n.IsScalar() || n.Tag() == "!" || !absl::SimpleAtoi(n.Scalar(), &v)) {
      Fail(n, field, "must be an integer");
    }
    if (v < lo || v > hi) Fail(n, field, absl::StrCat("must be between ", lo, " and ", hi));
    return v;
  }
  absl::Duration Duration(const YAML::Node& n, std::string_view field, absl::Duration lo,
                          absl::Duration hi) const {
    std::string s = String(n, field);
    auto d = ParseDuration(s);
    if (!d.ok())
      Fail(n, field, absl::StrCat("\"", s, "\" is not a duration (e.g. 90s, 10m, 1h30m)"));
    if (*d < lo || *d > hi) {
      Fail(n, field,
           absl::StrCat("must be between ", clawos::FormatDuration(lo), " and ",
                        clawos::FormatDuration(hi)));
    }
    return *d;
  }
  std::map<std::string, std::string> Env(const YAML::Node& n, std::string_view field) const {
    std::map<std::string, std::string> env;
    for (auto& [k, v] : Entries(n, field, {})) {
      std::string sub = absl::StrCat(std::string(field), ".", k);
      bool ok = !k.empty() && k.size() <= 128 && !(k[0] >= '0' && k[0] <= '9');
      for (char c : k) ok = ok && (isalnum(static_cast<unsigned char>(c)) || c == '_');
      if (!ok) Fail(n, sub, "names must be [A-Za-z_][A-Za-z0-9_]*");
      env[k] = String(v, sub);
    }
    return env;
  }
  std::string Id(const YAML::Node& n, std::string_view field) const {
    std::string id = String(n, field);
    if (!IsValidId(id)) {
      Fail(n, field,
           absl::StrCat("\"", id, "\" is not an id (1-63 of [a-z0-9-], starting with a letter)"));
    }
    return id;
  }

  WorkflowSpec Workflow(const YAML::Node& root) const;
  AgentSpec Agent(const std::string& name, const YAML::Node& n) const;
  StepSpec Step(int index, const YAML::Node& n, std::map<std::string, YAML::Node>* fields) const;

 private:
  std::string source_;
};

AgentSpec Parser::Agent(const std::string& name, const YAML::Node& n) const {
  AgentSpec a;
  a.name = name;
  std::string f = absl::StrCat("agents.", name);
  for (auto& [k, v] : Entries(n, f, SpecFields().at("agent"))) {
    std::string sub = absl::StrCat(f, ".", k);
    if (k == "image") {
      a.image = String(v, sub);
      if (a.image.rfind("images/", 0) != 0) a.image = "images/" + a.image;
      if (!IsValidId(a.image.substr(7))) Fail(v, sub, "not an image id");
    } else if (k == "vcpus") {
      a.vcpus = Int(v, sub, 1, 32);
    } else if (k == "memory_mib") {
      a.memory_mib = Int(v, sub, 128, 16384);
    } else if (k == "model") {
      a.model = String(v, sub);
      if (a.model.empty()) Fail(v, sub, "must not be empty");
    } else if (k == "vm") {
      std::string mode = String(v, sub);
      if (mode != "reuse" && mode != "fresh") Fail(v, sub, "must be \"reuse\" or \"fresh\"");
      a.fresh = mode == "fresh";
    } else if (k == "env") {
      a.env = Env(v, sub);
    } else if (k == "limits") {
      for (auto& [lk, lv] : Entries(v, sub, SpecFields().at("limits"))) {
        std::string lsub = absl::StrCat(sub, ".", lk);
        if (lk == "requests_per_minute") a.limits.requests_per_minute = Int(lv, lsub, 1, 1'000'000);
        if (lk == "tokens_per_minute") a.limits.tokens_per_minute = Int(lv, lsub, 1, 1'000'000'000);
        if (lk == "budget_tokens") a.limits.budget_tokens = Int(lv, lsub, 1, int64_t{1} << 50);
        if (lk == "budget_window") {
          a.limits.budget_window = Duration(lv, lsub, absl::Minutes(1), absl::Hours(24 * 366));
        }
      }
    }
  }
  return a;
}

StepSpec Parser::Step(int index, const YAML::Node& n,
                      std::map<std::string, YAML::Node>* fields) const {
  StepSpec s;
  std::string f = absl::StrCat("steps[", index, "]");
  s.line = n.Mark().line + 1;
  bool has_exec = false, has_prompt = false;
  for (auto& [k, v] : Entries(n, f, SpecFields().at("step"))) {
    std::string sub = absl::StrCat(f, ".", k);
    (*fields)[k] = v;  // for errors found later, at this field's line
    if (k == "id") {
      s.id = Id(v, sub);
    } else if (k == "agent") {
      s.agent = String(v, sub);
    } else if (k == "exec") {
      has_exec = true;
      if (v.IsScalar()) {
        if (v.Scalar().empty()) Fail(v, sub, "must not be empty");
        s.argv = {"sh", "-c", v.Scalar()};
        s.shell = true;
      } else if (v.IsSequence() && v.size() > 0) {
        for (size_t i = 0; i < v.size(); ++i)
          s.argv.push_back(String(v[i], absl::StrCat(sub, "[", i, "]")));
      } else {
        Fail(v, sub, "must be a command string (run by sh -c) or a non-empty list of words");
      }
    } else if (k == "prompt") {
      has_prompt = true;
      s.prompt_kind = true;
      s.prompt = String(v, sub);
      if (s.prompt.empty()) Fail(v, sub, "must not be empty");
    } else if (k == "model") {
      s.model = String(v, sub);
      if (s.model.empty()) Fail(v, sub, "must not be empty");
    } else if (k == "max_iterations") {
      s.max_iterations = Int(v, sub, 1, 100);
    } else if (k == "needs") {
      if (v.IsScalar()) {
        s.needs.push_back(v.Scalar());
      } else if (v.IsSequence()) {
        for (size_t i = 0; i < v.size(); ++i)
          s.needs.push_back(String(v[i], absl::StrCat(sub, "[", i, "]")));
      } else {
        Fail(v, sub, "must be a step id or a list of step ids");
      }
    } else if (k == "env") {
      s.env = Env(v, sub);
    } else if (k == "workdir") {
      s.workdir = String(v, sub);
      if (s.workdir.empty() || s.workdir[0] != '/') Fail(v, sub, "must be an absolute guest path");
    } else if (k == "timeout") {
      s.timeout = Duration(v, sub, absl::Seconds(1), absl::Hours(24));
    } else if (k == "retries") {
      s.retries = Int(v, sub, 0, 10);
    } else if (k == "backoff") {
      s.backoff = Duration(v, sub, absl::ZeroDuration(), absl::Hours(1));
    } else if (k == "on_failure") {
      std::string p = String(v, sub);
      if (p == "fail") {
        s.on_failure = OnFailure::kFail;
      } else if (p == "continue") {
        s.on_failure = OnFailure::kContinue;
      } else if (p == "fallback") {
        s.on_failure = OnFailure::kFallback;
      } else {
        Fail(v, sub, "must be \"fail\", \"continue\" or \"fallback\"");
      }
    } else if (k == "fallback") {
      s.fallback = String(v, sub);
      if (s.fallback.empty()) Fail(v, sub, "must not be empty");
    }
  }
  if (s.id.empty()) Fail(n, f + ".id", "is required");
  if (s.agent.empty()) Fail(n, f + ".agent", "is required");
  if (has_exec == has_prompt) Fail(n, f, "needs exactly one of \"exec\" and \"prompt\"");
  if (!s.prompt_kind && fields->count("model"))
    Fail((*fields)["model"], f + ".model", "only prompt steps have a model");
  if (!s.prompt_kind && fields->count("max_iterations")) {
    Fail((*fields)["max_iterations"], f + ".max_iterations",
         "only prompt steps have max_iterations");
  }
  if (s.on_failure == OnFailure::kFallback && s.fallback.empty()) {
    Fail(n, f + ".fallback", "is required with on_failure: fallback");
  }
  if (s.on_failure != OnFailure::kFallback && !s.fallback.empty()) {
    Fail((*fields)["fallback"], f + ".fallback", "needs on_failure: fallback");
  }
  return s;
}

WorkflowSpec Parser::Workflow(const YAML::Node& root) const {
  if (!root.IsDefined() || root.IsNull()) FailAt(0, "spec", "is empty");
  WorkflowSpec w;
  YAML::Node agents, steps;
  bool has_agents = false, has_steps = false;
  for (auto& [k, v] : Entries(root, "", SpecFields().at("workflow"))) {
    if (k == "name") {
      w.name = String(v, k);
      if (w.name.size() > 200) Fail(v, k, "is longer than 200 characters");
    } else if (k == "max_parallel") {
      w.max_parallel = Int(v, k, 1, 64);
    } else if (k == "timeout") {
      w.timeout = Duration(v, k, absl::Seconds(1), absl::Hours(24 * 7));
    } else if (k == "retain_vms") {
      std::string r = String(v, k);
      if (r == "never") {
        w.retain_vms = Retention::kNever;
      } else if (r == "on_failure") {
        w.retain_vms = Retention::kOnFailure;
      } else if (r == "always") {
        w.retain_vms = Retention::kAlways;
      } else {
        Fail(v, k, "must be \"never\", \"on_failure\" or \"always\"");
      }
    } else if (k == "agents") {
      agents = v;
      has_agents = true;
    } else if (k == "steps") {
      steps = v;
      has_steps = true;
    }
  }
  if (!has_agents) FailAt(1, "agents", "is required");
  if (!has_steps) FailAt(1, "steps", "is required");
  for (auto& [name, node] : Entries(agents, "agents", {})) {
    if (!IsValidId(name)) {
      Fail(node, "agents." + name, "agent names are 1-63 of [a-z0-9-], starting with a letter");
    }
    w.agents.push_back(Agent(name, node));
  }
  if (w.agents.empty()) Fail(agents, "agents", "must name at least one agent");
  if (w.agents.size() > kMaxAgents)
    Fail(agents, "agents", absl::StrCat("at most ", kMaxAgents, " agents"));
  if (!steps.IsSequence() || steps.size() == 0) Fail(steps, "steps", "must be a non-empty list");
  if (steps.size() > kMaxSteps) Fail(steps, "steps", absl::StrCat("at most ", kMaxSteps, " steps"));

  // Each step's field nodes by name, for the lines of the cross-checks' errors.
  std::vector<std::map<std::string, YAML::Node>> fields(steps.size());
  std::map<std::string, int> index;
  for (size_t i = 0; i < steps.size(); ++i) {
    StepSpec s = Step(i, steps[i], &fields[i]);
    if (!index.emplace(s.id, i).second) {
      Fail(steps[i]["id"], absl::StrCat("steps[", i, "].id"),
           absl::StrCat("\"", s.id, "\" is used twice"));
    }
    w.steps.push_back(std::move(s));
  }
  auto field_line = [&](size_t i, const std::string& which) {
    auto it = fields[i].find(which);
    return it != fields[i].end() ? it->second.Mark().line + 1 : w.steps[i].line;
  };
  for (size_t i = 0; i < w.steps.size(); ++i) {
    StepSpec& s = w.steps[i];
    std::string f = absl::StrCat("steps[", i, "]");
    if (!w.Agent(s.agent)) {
      FailAt(field_line(i, "agent"), f + ".agent", absl::StrCat("unknown agent \"", s.agent, "\""));
    }
    if (s.prompt_kind && s.model.empty() && w.Agent(s.agent)->model.empty()) {
      FailAt(s.line, f + ".model", "a prompt step needs a model (on the step or its agent)");
    }
    std::set<std::string> seen;
    for (size_t j = 0; j < s.needs.size(); ++j) {
      std::string sub = absl::StrCat(f, ".needs[", j, "]");
      if (!index.count(s.needs[j])) {
        FailAt(field_line(i, "needs"), sub, absl::StrCat("unknown step \"", s.needs[j], "\""));
      }
      if (s.needs[j] == s.id) FailAt(field_line(i, "needs"), sub, "a step cannot need itself");
      if (!seen.insert(s.needs[j]).second) FailAt(field_line(i, "needs"), sub, "listed twice");
    }
    if (!s.fallback.empty()) {
      auto it = index.find(s.fallback);
      if (it == index.end()) {
        FailAt(field_line(i, "fallback"), f + ".fallback",
               absl::StrCat("unknown step \"", s.fallback, "\""));
      }
      StepSpec& fb = w.steps[it->second];
      if (fb.id == s.id)
        FailAt(field_line(i, "fallback"), f + ".fallback", "a step cannot be its own fallback");
      if (!fb.fallback_for.empty()) {
        FailAt(field_line(i, "fallback"), f + ".fallback",
               absl::StrCat("step \"", fb.id, "\" is already the fallback of \"", fb.fallback_for,
                            "\""));
      }
      fb.fallback_for = s.id;
    }
  }
  // Fallback chains end: a step cannot stand in, through its fallbacks, for
  // itself.
  for (size_t i = 0; i < w.steps.size(); ++i) {
    std::vector<std::string> chain = {w.steps[i].id};
    for (const StepSpec* at = &w.steps[i]; !at->fallback.empty();) {
      at = w.Step(at->fallback);
      if (at->id == w.steps[i].id) {
        chain.push_back(at->id);
        FailAt(field_line(i, "fallback"), absl::StrCat("steps[", i, "].fallback"),
               absl::StrCat("fallback cycle: ", absl::StrJoin(chain, " -> ")));
      }
      if (chain.size() > w.steps.size()) break;
      chain.push_back(at->id);
    }
  }
  // A fallback runs only in place of its step: nothing may need it, and it may
  // need only what its step needs.
  for (size_t i = 0; i < w.steps.size(); ++i) {
    for (size_t j = 0; j < w.steps[i].needs.size(); ++j) {
      const StepSpec* dep = w.Step(w.steps[i].needs[j]);
      if (!dep->fallback_for.empty()) {
        FailAt(field_line(i, "needs"), absl::StrCat("steps[", i, "].needs[", j, "]"),
               absl::StrCat("\"", dep->id, "\" is the fallback of \"", dep->fallback_for,
                            "\"; need \"", dep->fallback_for, "\" instead"));
      }
    }
    const StepSpec& s = w.steps[i];
    if (!s.fallback_for.empty()) {
      const StepSpec* primary = w.Step(s.fallback_for);
      for (const auto& n : s.needs) {
        if (std::find(primary->needs.begin(), primary->needs.end(), n) == primary->needs.end()) {
          FailAt(field_line(i, "needs"), absl::StrCat("steps[", i, "].needs"),
                 absl::StrCat("a fallback may need only what its step \"", primary->id,
                              "\" needs, not \"", n, "\""));
        }
      }
    }
  }
  // Cycles: depth-first, reporting the path.
  std::vector<int> mark(w.steps.size(), 0);  // 0 new, 1 on the path, 2 done
  std::vector<std::string> path;
  std::function<void(int)> visit = [&](int i) {
    mark[i] = 1;
    path.push_back(w.steps[i].id);
    for (const auto& n : w.steps[i].needs) {
      int j = index[n];
      if (mark[j] == 1) {
        auto from = std::find(path.begin(), path.end(), n);
        std::vector<std::string> cycle(from, path.end());
        cycle.push_back(n);
        FailAt(field_line(i, "needs"), absl::StrCat("steps[", i, "].needs"),
               absl::StrCat("cycle: ", absl::StrJoin(cycle, " -> ")));
      }
      if (mark[j] == 0) visit(j);
    }
    path.pop_back();
    mark[i] = 2;
  };
  for (size_t i = 0; i < w.steps.size(); ++i) {
    if (mark[i] == 0) visit(i);
  }
  // Templates may name only steps this one depends on (for a fallback: what its
  // step depends on), directly or not.
  for (size_t i = 0; i < w.steps.size(); ++i) {
    const StepSpec& s = w.steps[i];
    std::set<std::string> ancestors;
    std::function<void(const std::string&)> add = [&](const std::string& id) {
      for (const auto& n : w.Step(id)->needs) {
        if (ancestors.insert(n).second) add(n);
      }
    };
    add(s.id);
    std::string f = absl::StrCat("steps[", i, "]");
    auto check = [&](const std::string& text, std::string_view sub, int line) {
      auto refs = ParseTemplate(text);
      if (!refs.ok()) FailAt(line, sub, std::string(refs.status().message()));
      for (const auto& r : *refs) {
        if (r.kind == TemplateRef::kWorkflowId) continue;
        if (!index.count(r.step))
          FailAt(line, sub, absl::StrCat("template names unknown step \"", r.step, "\""));
        if (!ancestors.count(r.step)) {
          FailAt(line, sub,
                 absl::StrCat("template names step \"", r.step, "\", which \"", s.id,
                              "\" does not depend on (add it to needs)"));
        }
      }
    };
    for (size_t j = 0; j < s.argv.size(); ++j)
      check(s.argv[j], absl::StrCat(f, ".exec"), field_line(i, "exec"));
    if (s.shell) {
      if (absl::Status st = CheckShellTemplate(s.argv[2]); !st.ok())
        FailAt(field_line(i, "exec"), f + ".exec", std::string(st.message()));
    }
    if (s.prompt_kind) check(s.prompt, f + ".prompt", field_line(i, "prompt"));
    for (const auto& [k, v] : s.env) check(v, absl::StrCat(f, ".env.", k), field_line(i, "env"));
  }
  return w;
}

}  // namespace

const std::map<std::string, std::set<std::string>>& SpecFields() {
  static const std::map<std::string, std::set<std::string>> kFields = {
      {"workflow", {"name", "max_parallel", "timeout", "retain_vms", "agents", "steps"}},
      {"agent", {"image", "vcpus", "memory_mib", "model", "vm", "env", "limits"}},
      {"limits", {"requests_per_minute", "tokens_per_minute", "budget_tokens", "budget_window"}},
      {"step",
       {"id", "agent", "exec", "prompt", "model", "max_iterations", "needs", "env", "workdir",
        "timeout", "retries", "backoff", "on_failure", "fallback"}},
  };
  return kFields;
}

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > 63 || !(id[0] >= 'a' && id[0] <= 'z')) return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

const AgentSpec* WorkflowSpec::Agent(std::string_view name) const {
  for (const auto& a : agents) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

const StepSpec* WorkflowSpec::Step(std::string_view id) const {
  int i = StepIndex(id);
  return i < 0 ? nullptr : &steps[i];
}

int WorkflowSpec::StepIndex(std::string_view id) const {
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].id == id) return i;
  }
  return -1;
}

absl::StatusOr<WorkflowSpec> ParseSpec(std::string_view text, std::string_view source) {
  std::string src = source.empty() ? "spec" : std::string(source);
  if (text.size() > kMaxSpecBytes) {
    return absl::InvalidArgumentError(absl::StrCat(src, ": the spec is larger than 256 KiB"));
  }
  try {
    YAML::Node root = YAML::Load(std::string(text));
    return Parser(src).Workflow(root);
  } catch (const SpecError& e) {
    return absl::InvalidArgumentError(e.message);
  } catch (const YAML::Exception& e) {
    // e.mark is 0-based; e.msg is yaml-cpp's text without the position.
    return absl::InvalidArgumentError(absl::StrCat(
        src, ":", e.mark.line + 1, ":", e.mark.column + 1, ": not valid YAML or JSON: ", e.msg));
  }
}

}  // namespace clawos::orchestrator
