#include "orchestrator/workflow_proto.h"

#include "absl/time/time.h"
#include "common/grpc_util.h"

namespace clawos::orchestrator {
namespace {

// Store times are Unix µs, 0 for unset (left unset in the message).
void SetTime(int64_t us, google::protobuf::Timestamp* t) {
  if (us != 0) *t = ToProtoTime(absl::FromUnixMicros(us));
}

}  // namespace

pb::Workflow ToProto(const WorkflowRow& wf, const std::vector<StepRow>& steps,
                     const std::vector<AgentVmRow>& vms, bool with_spec) {
  pb::Workflow out;
  out.set_name("workflows/" + wf.id);
  out.set_display_name(wf.display_name);
  out.set_state(static_cast<pb::Workflow::State>(wf.state));
  out.set_error(wf.error);
  if (with_spec) out.set_spec(wf.spec);
  SetTime(wf.create_us, out.mutable_create_time());
  SetTime(wf.start_us, out.mutable_start_time());
  SetTime(wf.end_us, out.mutable_end_time());
  for (const auto& s : steps) {
    auto* p = out.add_steps();
    p->set_id(s.step_id);
    p->set_agent(s.agent);
    p->set_state(static_cast<pb::StepStatus::State>(s.state));
    p->set_attempts(s.attempts);
    if (s.exit_code) p->set_exit_code(*s.exit_code);
    p->set_error(s.error);
    if (!s.vm.empty()) p->set_vm("vms/" + s.vm);
    p->set_fallback_for(s.fallback_for);
    SetTime(s.start_us, p->mutable_start_time());
    SetTime(s.end_us, p->mutable_end_time());
  }
  for (const auto& name : wf.agents) {
    auto* a = out.add_agents();
    a->set_name(name);
    for (const auto& vm : vms) {
      if (vm.agent != name) continue;
      a->add_vms("vms/" + vm.vm);
      a->set_subject(vm.subject);
    }
  }
  return out;
}

pb::StepOutput ToProto(const std::string& workflow_id, const std::string& step,
                       const StepOutputData& o) {
  pb::StepOutput out;
  out.set_workflow("workflows/" + workflow_id);
  out.set_step(step);
  out.set_attempt(o.attempt);
  if (o.exit_code) out.set_exit_code(*o.exit_code);
  out.set_stdout_text(o.stdout_text);
  out.set_stdout_truncated(o.stdout_truncated);
  out.set_stderr_tail(o.stderr_tail);
  out.set_transcript(o.transcript);
  for (const auto& f : o.files) {
    auto* p = out.add_files();
    p->set_path(f.path);
    p->set_size_bytes(f.size);
    p->set_content(f.content);
    p->set_skipped(f.skipped);
  }
  return out;
}

}  // namespace clawos::orchestrator
