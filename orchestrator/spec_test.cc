#include "orchestrator/spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

namespace clawos::orchestrator {
namespace {

using ::testing::HasSubstr;

constexpr char kFanIn[] = R"(name: fan-in
max_parallel: 3
timeout: 1h
retain_vms: on_failure
agents:
  worker:
    image: default
    memory_mib: 256
  writer:
    image: images/default
    vm: fresh
    model: gpt-4o-mini
    limits: {requests_per_minute: 30, tokens_per_minute: 5000, budget_tokens: 10000, budget_window: 2h}
steps:
  - id: a
    agent: worker
    exec: echo a
  - id: b
    agent: worker
    needs: a
    exec: [sh, -c, "echo {{ steps.a.stdout }}b"]
  - id: c
    agent: writer
    needs: [a]
    prompt: "Summarise {{steps.a.files.report.txt}}"
    retries: 2
    backoff: 1s
    timeout: 90s
    on_failure: fallback
    fallback: c-plain
  - id: c-plain
    agent: worker
    needs: [a]
    exec: echo plain
  - id: d
    agent: worker
    needs: [b, c]
    env: {B: "{{ steps.b.stdout }}", C: "{{ steps.c.exit_code }}", W: "{{workflow.id}}"}
    exec: echo "$B $C"
)";

TEST(SpecTest, ParsesAFullSpec) {
  auto spec = ParseSpec(kFanIn, "flow.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name, "fan-in");
  EXPECT_EQ(spec->max_parallel, 3);
  EXPECT_EQ(*spec->timeout, absl::Hours(1));
  EXPECT_EQ(spec->retain_vms, Retention::kOnFailure);
  ASSERT_EQ(spec->agents.size(), 2u);
  EXPECT_EQ(spec->agents[0].image, "images/default");
  EXPECT_FALSE(spec->agents[0].fresh);
  EXPECT_TRUE(spec->agents[1].fresh);
  EXPECT_EQ(*spec->agents[1].limits.requests_per_minute, 30);
  EXPECT_EQ(*spec->agents[1].limits.budget_tokens, 10000);
  EXPECT_EQ(*spec->agents[1].limits.tokens_per_minute, 5000);
  EXPECT_EQ(spec->agents[1].limits.budget_window, absl::Hours(2)) << "not the 24 h default";
  ASSERT_EQ(spec->steps.size(), 5u);
  EXPECT_EQ(spec->steps[0].argv, (std::vector<std::string>{"sh", "-c", "echo a"}));
  EXPECT_TRUE(spec->steps[0].shell) << "a string is a script";
  EXPECT_FALSE(spec->steps[1].shell) << "a list is an argv, even one that names sh";
  EXPECT_EQ(spec->steps[1].needs, std::vector<std::string>{"a"});
  EXPECT_TRUE(spec->steps[2].prompt_kind);
  EXPECT_EQ(spec->steps[2].retries, 2);
  EXPECT_EQ(spec->steps[2].timeout, absl::Seconds(90));
  EXPECT_EQ(spec->steps[2].on_failure, OnFailure::kFallback);
  EXPECT_EQ(spec->steps[3].fallback_for, "c");
  EXPECT_EQ(spec->steps[4].env.at("B"), "{{ steps.b.stdout }}");
  EXPECT_EQ(spec->steps[2].line, 22);
}

TEST(SpecTest, RawTemplatesAndHereDocumentsWithTemplatesParse) {
  auto spec = ParseSpec(R"(agents: {w: {}}
steps:
  - {id: a, agent: w, exec: x}
  - id: b
    agent: w
    needs: a
    exec: |
      cat <<EOF
      {{ steps.a.stdout }}
      EOF
      cat <<'EOF'
      {{ steps.a.stdout | raw }}
      EOF
      echo {{ steps.a.stdout|raw }}
)",
                        "flow.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_TRUE(spec->steps[1].shell);
}

TEST(SpecTest, JsonIsAccepted) {
  auto spec = ParseSpec(R"({"agents": {"w": {"memory_mib": 512}},
    "steps": [{"id": "a", "agent": "w", "exec": ["true"]},
              {"id": "b", "agent": "w", "needs": ["a"], "exec": "cat /workspace/in/a/x"}]})",
                        "flow.json");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->agents[0].memory_mib, 512);
  EXPECT_EQ(spec->steps[1].needs, std::vector<std::string>{"a"});
}

struct BadCase {
  const char* name;
  const char* spec;
  const char* expect;  // a substring of the error, which starts with the source and line
};

const char kAgents[] = "agents:\n  w: {}\n";

class SpecErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(SpecErrorTest, IsRefusedNamingLineAndField) {
  auto spec = ParseSpec(GetParam().spec, "flow.yaml");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr(GetParam().expect));
}

std::string S(const char* steps) { return std::string(kAgents) + "steps:\n" + steps; }

const std::string kCycle =
    S("  - {id: a, agent: w, exec: x, needs: c}\n  - {id: b, agent: w, exec: x, needs: a}\n"
      "  - {id: c, agent: w, exec: x, needs: b}\n");
const std::string kUnknownAgent = S("  - id: a\n    agent: nobody\n    exec: x\n");
const std::string kUnknownStep =
    S("  - {id: a, agent: w, exec: x}\n  - {id: b, agent: w, exec: x, needs: [a, zz]}\n");
const std::string kMissingAgent = S("  - {id: a, exec: x}\n");
const std::string kMissingTask = S("  - {id: a, agent: w}\n");
const std::string kBothTasks = S("  - {id: a, agent: w, exec: x, prompt: y}\n");
const std::string kBadTemplate =
    S("  - {id: a, agent: w, exec: x}\n  - {id: b, agent: w, needs: a, exec: \"echo {{ "
      "steps.a.stdot }}\"}\n");
const std::string kUnclosed =
    S("  - {id: a, agent: w, exec: x}\n  - {id: b, agent: w, needs: a, exec: \"echo {{ "
      "steps.a.stdout\"}\n");
const std::string kNotADep =
    S("  - {id: a, agent: w, exec: x}\n  - {id: b, agent: w, exec: \"echo {{steps.a.stdout}}\"}\n");
const std::string kDupId = S("  - {id: a, agent: w, exec: x}\n  - {id: a, agent: w, exec: y}\n");
const std::string kUnknownField = S("  - {id: a, agent: w, exec: x, retires: 3}\n");
const std::string kBadDuration = S("  - {id: a, agent: w, exec: x, timeout: soon}\n");
const std::string kBadRetries = S("  - {id: a, agent: w, exec: x, retries: 99}\n");
const std::string kSelfNeed = S("  - {id: a, agent: w, exec: x, needs: a}\n");
const std::string kFallbackMissing = S("  - {id: a, agent: w, exec: x, on_failure: fallback}\n");
const std::string kNeedsFallback =
    S("  - {id: a, agent: w, exec: x, on_failure: fallback, fallback: f}\n  - {id: f, agent: w, "
      "exec: y}\n"
      "  - {id: g, agent: w, exec: z, needs: f}\n");
const std::string kPromptNoModel = S("  - {id: a, agent: w, prompt: hi}\n");
const std::string kBadId = S("  - {id: Build_1, agent: w, exec: x}\n");
const std::string kFallbackCycle =
    S("  - {id: p, agent: w, exec: x, on_failure: fallback, fallback: f}\n"
      "  - {id: f, agent: w, exec: y, on_failure: fallback, fallback: p}\n");
const std::string kIterationsOnExec = S("  - {id: a, agent: w, exec: x, max_iterations: 3}\n");
const std::string kEmptyExec = S("  - {id: a, agent: w, exec: ''}\n");
const std::string kQuotedHereDoc =
    S("  - {id: a, agent: w, exec: x}\n  - id: b\n    agent: w\n    needs: a\n    exec: |\n"
      "      cat <<'EOF'\n      {{ steps.a.stdout }}\n      EOF\n");
const std::string kBackslashTemplate =
    S("  - {id: a, agent: w, exec: x}\n  - {id: b, agent: w, needs: a, exec: 'echo "
      "\\{{steps.a.stdout}}'}\n");
const std::string kUnknownFilter =
    S("  - {id: a, agent: w, exec: x}\n  - {id: b, agent: w, needs: a, exec: 'echo "
      "{{steps.a.stdout | quote}}'}\n");

INSTANTIATE_TEST_SUITE_P(
    Cases, SpecErrorTest,
    ::testing::Values(
        BadCase{"cycle", kCycle.c_str(), "flow.yaml:5: steps[1].needs: cycle: a -> c -> b -> a"},
        BadCase{"unknown_agent", kUnknownAgent.c_str(),
                "flow.yaml:5: steps[0].agent: unknown agent \"nobody\""},
        BadCase{"unknown_step", kUnknownStep.c_str(),
                "flow.yaml:5: steps[1].needs[1]: unknown step \"zz\""},
        BadCase{"missing_agent", kMissingAgent.c_str(), "flow.yaml:4: steps[0].agent: is required"},
        BadCase{"missing_task", kMissingTask.c_str(),
                "flow.yaml:4: steps[0]: needs exactly one of"},
        BadCase{"both_tasks", kBothTasks.c_str(),
                "steps[0]: needs exactly one of \"exec\" and \"prompt\""},
        BadCase{"bad_template", kBadTemplate.c_str(), "flow.yaml:5: steps[1].exec: bad template"},
        BadCase{"unclosed_template", kUnclosed.c_str(),
                "flow.yaml:5: steps[1].exec: bad template: \"{{\" without"},
        BadCase{"template_not_a_dependency", kNotADep.c_str(),
                "flow.yaml:5: steps[1].exec: template names step \"a\", which \"b\" does not "
                "depend on"},
        BadCase{"duplicate_id", kDupId.c_str(), "flow.yaml:5: steps[1].id: \"a\" is used twice"},
        BadCase{"unknown_field", kUnknownField.c_str(),
                "flow.yaml:4: steps[0].retires: unknown field"},
        BadCase{"bad_duration", kBadDuration.c_str(),
                "flow.yaml:4: steps[0].timeout: \"soon\" is not a duration"},
        BadCase{"bad_retries", kBadRetries.c_str(), "steps[0].retries: must be between 0 and 10"},
        BadCase{"self_need", kSelfNeed.c_str(), "steps[0].needs[0]: a step cannot need itself"},
        BadCase{"fallback_missing", kFallbackMissing.c_str(), "steps[0].fallback: is required"},
        BadCase{"needs_a_fallback", kNeedsFallback.c_str(), "\"f\" is the fallback of \"a\""},
        BadCase{"prompt_without_model", kPromptNoModel.c_str(),
                "steps[0].model: a prompt step needs a model"},
        BadCase{"bad_step_id", kBadId.c_str(), "\"Build_1\" is not an id"},
        BadCase{"iterations_on_exec", kIterationsOnExec.c_str(),
                "flow.yaml:4: steps[0].max_iterations: only prompt steps have max_iterations"},
        BadCase{"fallback_cycle", kFallbackCycle.c_str(),
                "steps[0].fallback: fallback cycle: p -> f -> p"},
        BadCase{"empty_exec", kEmptyExec.c_str(), "steps[0].exec: must not be empty"},
        BadCase{"template_in_quoted_heredoc", kQuotedHereDoc.c_str(),
                "flow.yaml:8: steps[1].exec: template {{ steps.a.stdout }} is in a "
                "here-document whose delimiter is quoted"},
        BadCase{"template_after_backslash", kBackslashTemplate.c_str(),
                "flow.yaml:5: steps[1].exec: template {{ steps.a.stdout }} cannot follow a "
                "backslash"},
        BadCase{"unknown_filter", kUnknownFilter.c_str(),
                "flow.yaml:5: steps[1].exec: bad template \"{{steps.a.stdout | quote}}\": unknown "
                "filter \"quote\""},
        BadCase{"no_steps", "agents: {w: {}}\n", "flow.yaml:1: steps: is required"},
        BadCase{"empty", "", "flow.yaml: spec: is empty"},
        BadCase{"yaml_syntax", "agents: {w: {}\nsteps: [", "flow.yaml:2:"},
        BadCase{"top_level_list", "- a\n- b\n", "must be a mapping"},
        BadCase{"duplicate_key", "agents: {w: {}}\nagents: {v: {}}\nsteps: []\n",
                "flow.yaml:2: agents: appears twice"}),
    [](const auto& info) { return std::string(info.param.name); });

// docs/workflow.schema.json names exactly the fields the parser accepts.
TEST(SpecTest, TheJsonSchemaHasTheParsersFields) {
  std::ifstream in(std::string(CLAWOS_SOURCE_DIR) + "/docs/workflow.schema.json");
  ASSERT_TRUE(in) << "docs/workflow.schema.json is missing";
  nlohmann::json schema = nlohmann::json::parse(in, nullptr, false);
  ASSERT_TRUE(schema.is_object());
  // Follows "$ref": "#/$defs/x" (or "#/definitions/x").
  auto resolve = [&](nlohmann::json node) {
    for (int i = 0; i < 8 && node.is_object() && node.contains("$ref"); ++i) {
      std::string ref = node["$ref"];
      node = schema.at(nlohmann::json::json_pointer(ref.substr(1)));
    }
    return node;
  };
  auto keys = [&](const nlohmann::json& object) {
    std::set<std::string> out;
    nlohmann::json resolved = resolve(object);
    for (const auto& [k, v] : resolved.at("properties").items()) out.insert(k);
    return out;
  };
  nlohmann::json agents = resolve(schema["properties"]["agents"]);
  nlohmann::json agent = agents.contains("patternProperties")
                             ? agents["patternProperties"].begin().value()
                             : agents["additionalProperties"];
  nlohmann::json step = resolve(schema["properties"]["steps"])["items"];
  EXPECT_EQ(keys(schema), SpecFields().at("workflow"));
  EXPECT_EQ(keys(agent), SpecFields().at("agent"));
  EXPECT_EQ(keys(resolve(agent)["properties"]["limits"]), SpecFields().at("limits"));
  EXPECT_EQ(keys(step), SpecFields().at("step"));
  // And the examples in docs/ parse.
  for (const char* example : {"/docs/examples/fan-in.yaml", "/docs/examples/fan-out.yaml"}) {
    std::ifstream f(std::string(CLAWOS_SOURCE_DIR) + example);
    std::string text((std::istreambuf_iterator<char>(f)), {});
    auto spec = ParseSpec(text, example);
    EXPECT_TRUE(spec.ok()) << spec.status();
  }
}

// The example that opens docs/workflow-spec.md parses, and its last step
// uses the fan-in's outputs in its script as data.
TEST(SpecTest, TheSpecDocsExampleParses) {
  std::ifstream f(std::string(CLAWOS_SOURCE_DIR) + "/docs/workflow-spec.md");
  std::string doc((std::istreambuf_iterator<char>(f)), {});
  size_t at = doc.find("## An example");
  ASSERT_NE(at, std::string::npos);
  size_t begin = doc.find("```yaml\n", at);
  ASSERT_NE(begin, std::string::npos);
  begin += 8;
  size_t end = doc.find("```", begin);
  auto spec = ParseSpec(doc.substr(begin, end - begin), "workflow-spec.md");
  ASSERT_TRUE(spec.ok()) << spec.status();
  const StepSpec* publish = spec->Step("publish");
  ASSERT_NE(publish, nullptr);
  EXPECT_TRUE(publish->shell);
  EXPECT_NE(publish->argv[2].find("{{ steps.summarize.stdout }}"), std::string::npos);
}

TEST(SpecTest, OversizedSpecIsRefused) {
  std::string big(kMaxSpecBytes + 1, '#');
  auto spec = ParseSpec(big, "big.yaml");
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr("larger than 256 KiB"));
}

}  // namespace
}  // namespace clawos::orchestrator
