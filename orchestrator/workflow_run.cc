#include "orchestrator/workflow_run.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/duration.h"
#include "common/grpc_util.h"
#include "common/log.h"
#include "common/status.h"
#include "common/utf8.h"
#include "orchestrator/shell_template.h"
#include "orchestrator/step_runner.h"
#include "orchestrator/template.h"
#include "orchestrator/vm_names.h"

namespace clawos::orchestrator {
namespace {

using WState = pb::Workflow;
using SState = pb::StepStatus;

int64_t NowUs() { return absl::ToUnixMicros(absl::Now()); }

// What a template inserts: trailing newlines dropped, as sh's $(...) does.
std::string TrimNewlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

struct WorkflowRun::Work {
  AgentSpec agent;
  StepSpec step;
  std::string vm;
  int attempt = 0;
  absl::Duration timeout;
  // Template and input sources: a step id as written -> the step whose output
  // stands for it (itself, or its fallback).
  std::map<std::string, std::string> sources;
};

WorkflowRun::WorkflowRun(RunDeps deps, WorkflowRow wf, WorkflowSpec spec,
                         std::vector<StepRow> steps, std::vector<AgentVmRow> vms,
                         std::shared_ptr<WorkflowHub> hub)
    : deps_(deps),
      wf_(std::move(wf)),
      spec_(std::move(spec)),
      steps_(std::move(steps)),
      vms_(std::move(vms)),
      hub_(std::move(hub)) {
  cancel_requested_ = wf_.state == WState::CANCELLING;
}

WorkflowRun::~WorkflowRun() { Stop(); }

void WorkflowRun::Start() {
  loop_ = std::thread([this] { Loop(); });
}

void WorkflowRun::RequestCancel() {
  std::lock_guard lock(mu_);
  cancel_requested_ = true;
  cv_.notify_all();
}

void WorkflowRun::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& [i, t] : tokens_) t->Cancel();
    cv_.notify_all();
  }
  if (loop_.joinable()) loop_.join();
}

bool WorkflowRun::done() {
  std::lock_guard lock(mu_);
  return done_;
}

void WorkflowRun::Publish(const std::string& step_id) {
  pb::WorkflowEvent e;
  *e.mutable_workflow() = ToProto(wf_, steps_, vms_, false);
  e.set_step_id(step_id);
  *e.mutable_event_time() = ToProtoTime(absl::Now());
  hub_->Publish(std::move(e));
}

void WorkflowRun::SetStep(int i, int state, const std::string& error) {
  StepRow& s = steps_[i];
  s.state = state;
  s.error = error;
  if (IsTerminalStep(state)) s.end_us = NowUs();
  if (absl::Status st = deps_.store->UpdateStep(s); !st.ok()) {
    log::Error("saving a step failed",
               {{"workflow", wf_.id}, {"step", s.step_id}, {"error", st.ToString()}});
  }
  Publish(s.step_id);
}

std::string WorkflowRun::VmFor(int i, int attempt) const {
  const StepSpec& step = spec_.steps[i];
  const AgentSpec* agent = spec_.Agent(step.agent);
  if (agent->fresh) return FreshVmId(wf_.id, step.id, i, attempt);
  int ai = std::find(wf_.agents.begin(), wf_.agents.end(), agent->name) - wf_.agents.begin();
  return AgentVmId(wf_.id, agent->name, ai);
}

WorkflowRun::Dep WorkflowRun::Resolve(int i) const {
  const StepRow& s = steps_[i];
  if (!IsTerminalStep(s.state)) return Dep::kWaiting;
  if (s.state == SState::SUCCEEDED) return Dep::kOk;
  if (s.state != SState::FAILED) return Dep::kBlocked;
  switch (spec_.steps[i].on_failure) {
    case OnFailure::kContinue:
      return Dep::kOk;
    case OnFailure::kFallback:
      return Resolve(spec_.StepIndex(spec_.steps[i].fallback));
    case OnFailure::kFail:
      break;
  }
  return Dep::kBlocked;
}

int WorkflowRun::Source(int i) const {
  if (steps_[i].state == SState::FAILED && spec_.steps[i].on_failure == OnFailure::kFallback) {
    return Source(spec_.StepIndex(spec_.steps[i].fallback));
  }
  return i;
}

bool WorkflowRun::AgentHasWork(const std::string& agent) const {
  for (size_t i = 0; i < steps_.size(); ++i) {
    if (spec_.steps[i].agent == agent && !IsTerminalStep(steps_[i].state)) return true;
  }
  return false;
}

void WorkflowRun::FailWorkflow(const std::string& error) {
  if (failing_) return;
  failing_ = true;
  wf_.error = error;
  log::Info("workflow failing", {{"workflow", wf_.id}, {"error", error}});
  CancelAll();
}

void WorkflowRun::CancelAll() {
  for (auto& [i, t] : tokens_) t->Cancel();
}

void WorkflowRun::Advance() {
  const int64_t now = NowUs();
  bool changed = true;
  while (changed) {
    changed = false;
    for (size_t i = 0; i < steps_.size(); ++i) {
      StepRow& s = steps_[i];
      if (s.state != SState::PENDING && s.state != SState::RETRY_WAIT) continue;
      const StepSpec& spec = spec_.steps[i];
      if (failing_) {
        SetStep(i, SState::SKIPPED,
                s.state == SState::RETRY_WAIT
                    ? absl::StrCat("not retried: the workflow failed (last attempt: ", s.error, ")")
                    : std::string("not run: the workflow failed"));
        changed = true;
        continue;
      }
      if (!spec.fallback_for.empty()) {
        int p = spec_.StepIndex(spec.fallback_for);
        if (!IsTerminalStep(steps_[p].state)) continue;
        if (steps_[p].state != SState::FAILED) {
          SetStep(i, SState::SKIPPED,
                  absl::StrCat("not needed: step \"", spec.fallback_for, "\" ",
                               steps_[p].state == SState::SUCCEEDED ? "succeeded" : "did not run"));
          changed = true;
          continue;
        }
      }
      for (const auto& n : spec.needs) {
        int j = spec_.StepIndex(n);
        if (Resolve(j) == Dep::kBlocked) {
          SetStep(i, SState::SKIPPED,
                  absl::StrCat("not run: dependency \"", n, "\" ",
                               steps_[j].state == SState::FAILED ? "failed" : "did not run"));
          changed = true;
          break;
        }
      }
    }
  }
  if (failing_) return;
  for (size_t i = 0; i < steps_.size() && running_ < spec_.max_parallel; ++i) {
    StepRow& s = steps_[i];
    if (s.state != SState::PENDING && s.state != SState::RETRY_WAIT) continue;
    if (s.state == SState::RETRY_WAIT && s.retry_at_us > now) continue;
    const StepSpec& spec = spec_.steps[i];
    if (!spec.fallback_for.empty() &&
        steps_[spec_.StepIndex(spec.fallback_for)].state != SState::FAILED)
      continue;
    bool ready = true;
    for (const auto& n : spec.needs) ready = ready && Resolve(spec_.StepIndex(n)) == Dep::kOk;
    if (!ready) continue;
    if (!spec_.Agent(spec.agent)->fresh && busy_agents_.count(spec.agent)) continue;
    StartAttempt(i, false);
  }
}

void WorkflowRun::StartAttempt(int i, bool resume) {
  StepRow& s = steps_[i];
  const StepSpec& spec = spec_.steps[i];
  if (!resume) {
    s.attempts += 1;
    s.state = SState::RUNNING;
    s.vm = VmFor(i, s.attempts);
    s.exit_code.reset();
    s.error.clear();
    s.retry_at_us = 0;
    if (s.start_us == 0) s.start_us = NowUs();
    if (absl::Status st = deps_.store->BeginAttempt(s); !st.ok()) {
      log::Error("saving an attempt failed",
                 {{"workflow", wf_.id}, {"step", s.step_id}, {"error", st.ToString()}});
    }
    Publish(s.step_id);
  }
  Work work;
  work.agent = *spec_.Agent(spec.agent);
  work.step = spec;
  work.vm = s.vm;
  work.attempt = s.attempts;
  work.timeout = spec.timeout;
  if (resume) {
    // What is left of the attempt's time: a restart does not grant a new one.
    auto begun = deps_.store->AttemptStart(wf_.id, s.step_id, s.attempts);
    if (begun.ok() && *begun > 0) {
      work.timeout =
          std::max(spec.timeout - absl::Microseconds(NowUs() - *begun), absl::Seconds(1));
    }
  }
  for (size_t j = 0; j < steps_.size(); ++j) {
    if (IsTerminalStep(steps_[j].state))
      work.sources[steps_[j].step_id] = steps_[Source(j)].step_id;
  }
  ++running_;
  if (!work.agent.fresh) busy_agents_.insert(spec.agent);
  workers_.emplace_back([this, i, resume, work = std::move(work)]() mutable {
    RunWorker(i, resume, std::move(work));
  });
}

std::map<std::string, std::string> WorkflowRun::Labels(const std::string& agent) const {
  return {{"workflow", wf_.id}, {"agent", agent}};
}

void WorkflowRun::RecordVm(const Work& work, const std::string& subject) {
  std::lock_guard lock(mu_);
  AgentVmRow* row = nullptr;
  for (auto& r : vms_) {
    if (r.vm == work.vm) row = &r;
  }
  if (row && !row->deleted && (subject.empty() || row->subject == subject)) return;
  if (!row) row = &vms_.emplace_back(AgentVmRow{work.agent.name, work.vm, "", false});
  row->deleted = false;
  if (!subject.empty()) row->subject = subject;
  if (absl::Status st = deps_.store->AddAgentVm(wf_.id, *row); !st.ok()) {
    log::Error("saving a vm failed",
               {{"workflow", wf_.id}, {"vm", work.vm}, {"error", st.ToString()}});
  }
  Publish("");
}

absl::StatusOr<VmInfo> WorkflowRun::EnsureVm(const Work& work) {
  VmRequest vm;
  vm.id = work.vm;
  vm.image = work.agent.image;
  vm.vcpus = work.agent.vcpus;
  vm.memory_mib = work.agent.memory_mib;
  vm.env = work.agent.env;
  vm.labels = Labels(work.agent.name);
  if (work.agent.fresh) {
    vm.labels["step"] = work.step.id;
    vm.labels["attempt"] = absl::StrCat(work.attempt);
  }
  // Recorded (to be retired with the others, even if its start fails) only
  // once the launcher shows it with this workflow's labels: a VM of the same
  // id that is someone else's is never recorded, so never stopped or deleted.
  auto info = deps_.launcher->EnsureRunning(
      vm, [&](const VmInfo& owned) { RecordVm(work, owned.subject); });
  if (info.ok()) RecordVm(work, info->subject);
  return info;
}

absl::Status WorkflowRun::RenderCommand(const Work& work, const TemplateResolver& resolve,
                                        AttemptPlan& plan) const {
  // Everything but a prompt goes to execve, which cannot pass a NUL byte.
  auto no_nul = [](const std::string& s, const std::string& what) {
    return s.find('\0') == std::string::npos
               ? absl::OkStatus()
               : absl::InvalidArgumentError(absl::StrCat(what, ": holds a NUL byte"));
  };
  for (const auto& [k, v] : work.step.env) {
    auto r = RenderTemplate(v, resolve);
    if (!r.ok())
      return absl::InvalidArgumentError(absl::StrCat("env ", k, ": ", r.status().message()));
    RETURN_IF_ERROR(no_nul(*r, "env " + k));
    plan.env[k] = *r;
  }
  if (work.step.prompt_kind) {
    plan.prompt = true;
    auto r = RenderTemplate(work.step.prompt, resolve);
    if (!r.ok()) return absl::InvalidArgumentError(absl::StrCat("prompt: ", r.status().message()));
    plan.prompt_text = *r;
    plan.model = work.step.model.empty() ? work.agent.model : work.step.model;
    plan.max_iterations = work.step.max_iterations;
  } else if (work.step.shell) {
    // The script never holds a template's text (shell_template.h).
    auto r = RenderShellTemplate(work.step.argv[2], resolve);
    if (!r.ok()) return absl::InvalidArgumentError(absl::StrCat("exec: ", r.status().message()));
    plan.argv = {"sh", "-c", r->script};
    for (auto& [k, v] : r->env) plan.env[k] = std::move(v);
  } else {
    for (const auto& word : work.step.argv) {
      auto r = RenderTemplate(word, resolve);
      if (!r.ok()) return absl::InvalidArgumentError(absl::StrCat("exec: ", r.status().message()));
      RETURN_IF_ERROR(no_nul(*r, "exec"));
      plan.argv.push_back(*r);
    }
  }
  return absl::OkStatus();
}

void WorkflowRun::RunWorker(int i, bool resume, Work work) {
  AttemptOutcome outcome;
  auto fail = [&](std::string why) {
    outcome.error = std::move(why);
    std::lock_guard lock(mu_);
    outcome.cancelled = Cancelled();
    OnAttemptDone(i, std::move(outcome));
  };
  const std::function<bool()> cancelled = [&] {
    std::lock_guard lock(mu_);
    return Cancelled();
  };

  // The launcher may not be up yet after a host restart: wait for it (within
  // the attempt's time) rather than fail an attempt whose command may run.
  const absl::Time deadline = absl::Now() + work.timeout;
  auto until_available = [&](auto call) {
    return RetryWhileUnavailable(deadline, cancelled, call);
  };
  bool resumed_started = false;
  if (resume) {
    auto info = until_available([&] { return deps_.launcher->GetVm(work.vm); });
    if (!info.ok()) return fail(std::string(info.status().message()));
    if (info->exists && !HasLabels(*info, Labels(work.agent.name))) {
      return fail(absl::StrCat("vms/", work.vm, " is not this workflow's any more"));
    }
    // Ours, and perhaps created just before the crash that kept it from
    // being recorded.
    if (info->exists) RecordVm(work, info->subject);
    if (info->exists && !info->running) {
      return fail(absl::StrCat("vms/", work.vm, " was ", info->state,
                               " when the orchestrator restarted; the attempt's result is lost"));
    }
    if (info->exists) {
      ExecRequest probe;
      probe.vm = work.vm;
      probe.argv = {"test", "-d", AttemptDir(work.step.id, work.attempt)};
      probe.timeout = absl::Seconds(30);
      auto r = until_available([&] { return deps_.launcher->Exec(probe, 0, 1024, nullptr); });
      if (!r.ok()) return fail(std::string(r.status().message()));
      resumed_started = r->exit_code == 0;
    }
  }

  if (cancelled()) return fail("cancelled");
  auto info = EnsureVm(work);
  if (!info.ok()) return fail(std::string(info.status().message()));
  if (work.agent.limits.any()) {
    if (!deps_.limits)
      return fail("the agent has limits but the orchestrator has no --proxy-admin");
    if (absl::Status st = deps_.limits->Set(info->subject, work.agent.limits); !st.ok()) {
      return fail(std::string(st.message()));
    }
  }

  // Templates and inputs from the outputs of earlier steps.
  std::map<std::string, StepOutputData> outputs;
  auto output_of = [&](const std::string& step) -> absl::StatusOr<const StepOutputData*> {
    auto src = work.sources.find(step);
    if (src == work.sources.end())
      return absl::FailedPreconditionError(absl::StrCat("step \"", step, "\" has not run"));
    auto it = outputs.find(src->second);
    if (it == outputs.end()) {
      auto o = deps_.store->Output(wf_.id, src->second);
      if (!o.ok()) return o.status();
      it = outputs.emplace(src->second, o->value_or(StepOutputData{})).first;
    }
    return &it->second;
  };
  TemplateResolver resolve = [&](const TemplateRef& ref) -> absl::StatusOr<std::string> {
    if (ref.kind == TemplateRef::kWorkflowId) return wf_.id;
    auto o = output_of(ref.step);
    if (!o.ok()) return o.status();
    switch (ref.kind) {
      case TemplateRef::kStdout:
        return TrimNewlines((*o)->stdout_text);
      case TemplateRef::kExitCode:
        return (*o)->exit_code ? absl::StrCat(*(*o)->exit_code) : std::string();
      case TemplateRef::kFile:
        for (const auto& f : (*o)->files) {
          if (f.path != ref.path || !f.skipped.empty()) continue;
          if (f.content.find('\0') != std::string::npos || !IsValidUtf8(f.content)) {
            return absl::InvalidArgumentError(absl::StrCat(
                "/workspace/out/", ref.path, " of step \"", ref.step, "\" is not UTF-8 text"));
          }
          return TrimNewlines(f.content);
        }
        return absl::NotFoundError(
            absl::StrCat("step \"", ref.step, "\" left no file /workspace/out/", ref.path));
      default:
        return std::string();
    }
  };
  AttemptPlan plan;
  plan.vm = work.vm;
  plan.step = work.step.id;
  plan.attempt = work.attempt;
  plan.workdir = work.step.workdir;
  plan.timeout = work.timeout;
  plan.step_timeout = work.step.timeout;
  if (absl::Status st = RenderCommand(work, resolve, plan); !st.ok()) {
    return fail(std::string(st.message()));
  }
  plan.env["CLAWOS_WORKFLOW"] = wf_.id;
  plan.env["CLAWOS_STEP"] = work.step.id;
  plan.env["CLAWOS_ATTEMPT"] = absl::StrCat(work.attempt);
  if (!resumed_started) {
    for (const auto& n : work.step.needs) {
      auto o = output_of(n);
      if (o.ok() && !(*o)->files.empty()) plan.inputs[n] = (*o)->files;
    }
  }

  auto register_cancel = [&](CancelToken* t) {
    std::lock_guard lock(mu_);
    if (t) {
      tokens_[i] = t;
      if (Cancelled()) t->Cancel();
    } else {
      tokens_.erase(i);
    }
  };
  outcome = RunAttempt(*deps_.launcher, plan, register_cancel, cancelled);
  std::lock_guard lock(mu_);
  OnAttemptDone(i, std::move(outcome));
}

void WorkflowRun::OnAttemptDone(int i, AttemptOutcome outcome) {
  // mu_ is held.
  --running_;
  const StepSpec& spec = spec_.steps[i];
  busy_agents_.erase(spec.agent);
  cv_.notify_all();
  if (stopping_ && outcome.cancelled) return;  // the next start attaches to it
  StepRow& s = steps_[i];
  s.exit_code = outcome.output.exit_code;
  std::string error = outcome.error;
  if (outcome.succeeded) {
    s.state = SState::SUCCEEDED;
    s.error.clear();
  } else if (outcome.cancelled) {
    s.state = SState::CANCELLED;
    s.error = failing_ ? "cancelled: the workflow failed" : "cancelled";
  } else if (s.attempts <= spec.retries) {
    s.state = SState::RETRY_WAIT;
    s.error = error;
    absl::Duration wait = spec.backoff * (int64_t{1} << std::min(s.attempts - 1, 20));
    s.retry_at_us = NowUs() + absl::ToInt64Microseconds(std::min(wait, absl::Hours(1)));
  } else {
    s.state = SState::FAILED;
    s.error = s.attempts > 1 ? absl::StrCat(error, " (after ", s.attempts, " attempts)") : error;
  }
  if (IsTerminalStep(s.state)) s.end_us = NowUs();
  if (deps_.metrics) {
    deps_.metrics->AttemptFinished(s.state == SState::SUCCEEDED    ? "succeeded"
                                   : s.state == SState::CANCELLED  ? "cancelled"
                                   : s.state == SState::RETRY_WAIT ? "retry"
                                                                   : "failed");
  }
  if (absl::Status st = deps_.store->FinishAttempt(s, error, outcome.output); !st.ok()) {
    log::Error("saving an attempt failed",
               {{"workflow", wf_.id}, {"step", s.step_id}, {"error", st.ToString()}});
  }
  log::Info("attempt finished", {{"workflow", wf_.id},
                                 {"step", s.step_id},
                                 {"attempt", s.attempts},
                                 {"state", SState::State_Name(static_cast<SState::State>(s.state))},
                                 {"error", error}});
  Publish(s.step_id);
  if (s.state == SState::FAILED && spec.on_failure == OnFailure::kFail) {
    FailWorkflow(absl::StrCat("step \"", s.step_id, "\" failed: ", s.error));
  }
  // VMs no step needs any more (not while stopping: the next start uses them).
  const AgentSpec* agent = spec_.Agent(spec.agent);
  if (spec_.retain_vms == Retention::kNever && !stopping_) {
    if (agent->fresh) {
      RetireVm(s.vm, false);
    } else if (!AgentHasWork(agent->name)) {
      RetireVm(s.vm, false);
    }
  }
}

void WorkflowRun::RetireVm(const std::string& vm, bool keep_stopped) {
  // mu_ is held; the launcher calls happen on a worker thread.
  std::string subject, agent;
  for (auto& r : vms_) {
    if (r.vm == vm) subject = r.subject, agent = r.agent;
  }
  workers_.emplace_back([this, vm, keep_stopped, subject, labels = Labels(agent)] {
    // Only a VM that still has this workflow's labels is stopped or deleted:
    // one deleted by an operator and made again by someone else is not ours.
    // (The launcher has no conditional delete; the window is this one call.)
    auto info = deps_.launcher->GetVm(vm);
    absl::Status s = info.status();
    bool ours = s.ok() && HasLabels(*info, labels);
    if (s.ok() && info->exists && !ours) {
      log::Warn("not retiring a vm that is not this workflow's any more",
                {{"workflow", wf_.id}, {"vm", vm}});
    } else if (ours) {
      s = keep_stopped ? deps_.launcher->StopVm(vm) : deps_.launcher->DeleteVm(vm);
    }
    if (!s.ok())
      log::Warn("retiring a vm failed",
                {{"workflow", wf_.id}, {"vm", vm}, {"error", s.ToString()}});
    if (!s.ok() || (keep_stopped && ours)) return;
    // Gone, deleted, or someone else's: no longer this workflow's to retire
    // (and the limits of someone else's VM are left alone).
    if (deps_.limits && !subject.empty() && (ours || !info->exists))
      (void)deps_.limits->Remove(subject);
    std::lock_guard lock(mu_);
    for (auto& r : vms_) {
      if (r.vm == vm) r.deleted = true;
    }
    (void)deps_.store->MarkVmDeleted(wf_.id, vm);
  });
}

void WorkflowRun::Finalize(std::unique_lock<std::mutex>& lock) {
  // Every step is finished and no attempt runs. VMs first, so that a watcher
  // that sees the final state sees the VMs gone.
  bool cancelled = cancel_requested_;
  bool failed = !cancelled && failing_;
  bool keep = spec_.retain_vms == Retention::kAlways ||
              (spec_.retain_vms == Retention::kOnFailure && failed);
  // Retires already under way finish first, so that no VM is retired twice.
  JoinWorkers(lock);
  for (const auto& r : vms_) {
    if (!r.deleted) RetireVm(r.vm, keep);
  }
  JoinWorkers(lock);
  wf_.state = cancelled ? WState::CANCELLED : failed ? WState::FAILED : WState::SUCCEEDED;
  if (cancelled) wf_.error.clear();
  wf_.end_us = NowUs();
  if (absl::Status st = deps_.store->UpdateWorkflow(wf_); !st.ok()) {
    log::Error("saving a workflow failed", {{"workflow", wf_.id}, {"error", st.ToString()}});
  }
  log::Info("workflow finished",
            {{"workflow", wf_.id},
             {"state", WState::State_Name(static_cast<WState::State>(wf_.state))},
             {"error", wf_.error}});
  // Counted before watchers hear of the end, so whoever saw it end sees it counted.
  if (deps_.metrics)
    deps_.metrics->WorkflowFinished(WState::State_Name(static_cast<WState::State>(wf_.state)));
  Publish("");
  hub_->Close();
  done_ = true;
}

void WorkflowRun::Loop() {
  if (deps_.metrics) deps_.metrics->RunStarted();
  std::unique_lock lock(mu_);
  if (wf_.state == WState::PENDING) {
    wf_.state = WState::RUNNING;
    wf_.start_us = NowUs();
    (void)deps_.store->UpdateWorkflow(wf_);
    Publish("");
  }
  for (size_t i = 0; i < steps_.size(); ++i) {
    if (steps_[i].state == SState::RUNNING) StartAttempt(i, true);
  }
  while (!stopping_) {
    if (cancel_requested_ && wf_.state != WState::CANCELLING) {
      wf_.state = WState::CANCELLING;
      (void)deps_.store->UpdateWorkflow(wf_);
      Publish("");
      CancelAll();
    }
    if (cancel_requested_) {
      for (size_t i = 0; i < steps_.size(); ++i) {
        if (steps_[i].state == SState::PENDING || steps_[i].state == SState::RETRY_WAIT) {
          SetStep(i, SState::CANCELLED, "cancelled");
        }
      }
    } else {
      if (spec_.timeout && !failing_ &&
          NowUs() - wf_.start_us > absl::ToInt64Microseconds(*spec_.timeout)) {
        FailWorkflow(
            absl::StrCat("the workflow timed out after ", clawos::FormatDuration(*spec_.timeout)));
      }
      Advance();
    }
    bool all_done = std::all_of(steps_.begin(), steps_.end(),
                                [](const StepRow& s) { return IsTerminalStep(s.state); });
    if (all_done && running_ == 0) {
      Finalize(lock);
      break;
    }
    // Wake for a retry or the timeout, else within a second.
    // Times already past wake nobody: a step that waits for a slot or an agent
    // is started when a worker finishes (which notifies cv_).
    const int64_t now = NowUs();
    int64_t wake = now + 1000000;
    for (const auto& s : steps_) {
      if (s.state == SState::RETRY_WAIT && s.retry_at_us > now)
        wake = std::min(wake, s.retry_at_us);
    }
    if (spec_.timeout && !failing_) {
      int64_t end = wf_.start_us + absl::ToInt64Microseconds(*spec_.timeout) + 1000;
      if (end > now) wake = std::min(wake, end);
    }
    cv_.wait_for(lock, std::chrono::microseconds(std::max<int64_t>(wake - now, 1000)));
  }
  JoinWorkers(lock);
  if (deps_.metrics) deps_.metrics->RunEnded();
}

void WorkflowRun::JoinWorkers(std::unique_lock<std::mutex>& lock) {
  // A thread being joined may add threads (a worker's end retires a VM): join
  // until none is left.
  while (!workers_.empty()) {
    std::vector<std::thread> threads;
    threads.swap(workers_);
    lock.unlock();
    for (auto& t : threads) t.join();
    lock.lock();
  }
}

}  // namespace clawos::orchestrator
