#include "orchestrator/vm_names.h"

#include <gtest/gtest.h>

#include <map>
#include <tuple>
#include <vector>

#include "orchestrator/spec.h"

namespace clawos::orchestrator {
namespace {

// The launcher's rule for VM ids (vm-launcher/vm.cc ValidateVmName).
bool LauncherAccepts(const std::string& n) {
  bool ok = !n.empty() && n.size() <= 63 &&
            ((n[0] >= 'a' && n[0] <= 'z') || (n[0] >= '0' && n[0] <= '9'));
  for (char c : n) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  return ok;
}

TEST(VmNamesTest, TheIssuesCollisionIsGone) {
  EXPECT_NE(AgentVmId("ci", "build-x", 0), AgentVmId("ci-build", "x", 0));
  EXPECT_EQ(AgentVmId("ci", "build-x", 0), "ci--build-x");
  EXPECT_EQ(FreshVmId("ci", "test", 3, 2), "ci--2-test");
  // An agent named like a fresh VM's rest cannot be one: agents start with a letter.
  EXPECT_NE(AgentVmId("ci", "test-2", 0), FreshVmId("ci", "test", 0, 2));
  EXPECT_FALSE(IsValidWorkflowId("ci--build"));
  EXPECT_TRUE(IsValidWorkflowId("ci-build-"));
  EXPECT_FALSE(IsValidWorkflowId(std::string(41, 'a')));
  EXPECT_TRUE(IsValidWorkflowId(std::string(40, 'a')));
}

// All ids over a small alphabet, plus long names that take the index forms:
// no two (workflow, agent) or (workflow, step, attempt) share a VM id, and the
// launcher accepts every one.
TEST(VmNamesTest, IdsAreUniqueAndValidForEveryNameCombination) {
  std::vector<std::string> words = {""};
  for (int len = 1; len <= 4; ++len) {
    size_t n = words.size();
    for (size_t i = 0; i < n; ++i) {
      if (words[i].size() != static_cast<size_t>(len - 1)) continue;
      for (char c : {'a', '-', '1'}) words.push_back(words[i] + c);
    }
  }
  std::vector<std::string> ids, workflows;
  for (const auto& w : words) {
    if (IsValidId(w)) ids.push_back(w);
    if (IsValidWorkflowId(w)) workflows.push_back(w);
  }
  workflows.push_back(std::string(20, 'a') + "-" + std::string(19, 'b'));
  workflows.push_back(std::string(40, 'z'));
  ids.push_back(std::string(30, 'n'));
  ids.push_back("n" + std::string(61, '-') + "n");
  ids.push_back(std::string(63, 'q'));
  ASSERT_GT(workflows.size(), 20u);
  ASSERT_GT(ids.size(), 20u);

  std::map<std::string, std::tuple<std::string, std::string, int>> seen;
  auto add = [&](const std::string& vm, const std::string& wf, const std::string& name,
                 int attempt) {
    ASSERT_TRUE(LauncherAccepts(vm)) << vm;
    auto [it, added] = seen.emplace(vm, std::make_tuple(wf, name, attempt));
    ASSERT_TRUE(added) << vm << " is made by (" << wf << ", " << name << ", " << attempt
                       << ") and by (" << std::get<0>(it->second) << ", " << std::get<1>(it->second)
                       << ", " << std::get<2>(it->second) << ")";
  };
  for (const auto& wf : workflows) {
    for (size_t i = 0; i < ids.size(); ++i) {
      add(AgentVmId(wf, ids[i], i), wf, ids[i], 0);
      for (int attempt = 1; attempt <= 11; ++attempt) {
        add(FreshVmId(wf, ids[i], i, attempt), wf, ids[i], attempt);
      }
    }
  }
}

}  // namespace
}  // namespace clawos::orchestrator
