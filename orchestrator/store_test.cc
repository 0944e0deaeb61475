#include "orchestrator/store.h"

#include <gtest/gtest.h>

#include "common/testing/temp_dir.h"
#include "orchestrator/step_runner.h"
#include "orchestrator/workflow_proto.h"

namespace clawos::orchestrator {
namespace {

WorkflowRow Row(const std::string& id, int state = pb::Workflow::PENDING) {
  WorkflowRow w;
  w.id = id;
  w.spec = "spec of " + id;
  w.source = "flow.yaml";
  w.state = state;
  w.create_us = 1;
  return w;
}

StepRow Step(const std::string& wf, const std::string& id, int idx) {
  StepRow s;
  s.workflow_id = wf;
  s.step_id = id;
  s.idx = idx;
  s.agent = "w";
  s.state = pb::StepStatus::PENDING;
  return s;
}

TEST(StoreTest, WorkflowsStepsAttemptsAndOutputsSurviveAReopen) {
  testing::TempDir dir;
  {
    auto store = Store::Open(dir.Sub("o.db"));
    ASSERT_TRUE(store.ok()) << store.status();
    WorkflowRow a = Row("wf-a"), b = Row("wf-b");
    ASSERT_TRUE((*store)->Create(a, {Step("wf-a", "s1", 0), Step("wf-a", "s2", 1)}).ok());
    ASSERT_TRUE((*store)->Create(b, {Step("wf-b", "s1", 0)}).ok());
    EXPECT_EQ(b.seq, a.seq + 1);
    WorkflowRow again = Row("wf-a");
    EXPECT_EQ((*store)->Create(again, {}).code(), absl::StatusCode::kAlreadyExists);

    StepRow s = Step("wf-a", "s2", 1);
    s.state = pb::StepStatus::RUNNING;
    s.attempts = 1;
    s.vm = "wf-a-w";
    ASSERT_TRUE((*store)->BeginAttempt(s).ok());
    s.state = pb::StepStatus::SUCCEEDED;
    s.exit_code = 0;
    StepOutputData o;
    o.attempt = 1;
    o.exit_code = 0;
    o.stdout_text = "hello\n";
    o.stderr_tail = "warn";
    o.files = {{"r.txt", 3, std::string("a\0b", 3), ""}, {"big.bin", -1, "", "larger than 1 MiB"}};
    ASSERT_TRUE((*store)->FinishAttempt(s, "", o).ok());
    ASSERT_TRUE((*store)->AddAgentVm("wf-a", {"w", "wf-a-w", "agents/wf-a-w", false}).ok());
    ASSERT_TRUE((*store)->MarkVmDeleted("wf-a", "wf-a-w").ok());
    a.state = pb::Workflow::RUNNING;
    a.start_us = 5;
    ASSERT_TRUE((*store)->UpdateWorkflow(a).ok());
  }
  auto store = Store::Open(dir.Sub("o.db"));
  ASSERT_TRUE(store.ok());
  auto wf = (*store)->Get("wf-a");
  ASSERT_TRUE(wf.ok() && wf->has_value());
  EXPECT_EQ((*wf)->state, pb::Workflow::RUNNING);
  EXPECT_EQ((*wf)->start_us, 5);
  auto steps = (*store)->Steps("wf-a");
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 2u);
  EXPECT_EQ((*steps)[1].state, pb::StepStatus::SUCCEEDED);
  EXPECT_EQ((*steps)[1].attempts, 1);
  EXPECT_EQ(*(*steps)[1].exit_code, 0);
  EXPECT_FALSE((*steps)[0].exit_code.has_value());
  auto out = (*store)->Output("wf-a", "s2");
  ASSERT_TRUE(out.ok() && out->has_value());
  EXPECT_EQ((*out)->stdout_text, "hello\n");
  ASSERT_EQ((*out)->files.size(), 2u);
  EXPECT_EQ((*out)->files[0].content, std::string("a\0b", 3));
  EXPECT_EQ((*out)->files[1].skipped, "larger than 1 MiB");
  EXPECT_FALSE((*(*store)->Output("wf-a", "s1")).has_value());
  auto vms = (*store)->AgentVms("wf-a");
  ASSERT_TRUE(vms.ok());
  ASSERT_EQ(vms->size(), 1u);
  EXPECT_TRUE((*vms)[0].deleted);

  auto unfinished = (*store)->Unfinished();
  EXPECT_EQ(*unfinished, (std::vector<std::string>{"wf-a", "wf-b"}));
  auto running = (*store)->List(pb::Workflow::RUNNING, 0, 10);
  ASSERT_EQ(running->size(), 1u);
  auto page1 = (*store)->List(0, 0, 1);
  ASSERT_EQ(page1->size(), 1u);
  EXPECT_EQ((*page1)[0].id, "wf-b");  // newest first
  auto page2 = (*store)->List(0, (*page1)[0].seq, 1);
  EXPECT_EQ((*page2)[0].id, "wf-a");
}

}  // namespace
}  // namespace clawos::orchestrator
