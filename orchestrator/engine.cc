#include "orchestrator/engine.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/crypto/encoding.h"
#include "common/crypto/random.h"
#include "common/grpc_util.h"
#include "common/log.h"
#include "common/status.h"
#include "orchestrator/spec.h"

namespace clawos::orchestrator {

Engine::Engine(Store& store, LauncherOps& launcher, LimitSetter* limits, EngineOptions options,
               OrchestratorMetrics* metrics)
    : store_(store), launcher_(launcher), limits_(limits), metrics_(metrics), options_(options) {}

Engine::~Engine() { Shutdown(); }

void Engine::Shutdown() {
  std::map<std::string, std::unique_ptr<WorkflowRun>> runs;
  {
    std::lock_guard lock(mu_);
    shut_down_ = true;
    runs.swap(runs_);
  }
  for (auto& [id, run] : runs) run->Stop();
}

int Engine::active() {
  std::lock_guard lock(mu_);
  int n = 0;
  for (auto& [id, run] : runs_) n += run->done() ? 0 : 1;
  return n;
}

void Engine::Reap() {
  // mu_ is held.
  for (auto it = runs_.begin(); it != runs_.end();) {
    if (it->second->done()) {
      it->second->Stop();  // joins its finished loop
      it = runs_.erase(it);
    } else {
      ++it;
    }
  }
  if (hubs_.size() > 64) {
    for (auto it = hubs_.begin(); it != hubs_.end();) {
      it = runs_.count(it->first) ? std::next(it) : hubs_.erase(it);
    }
  }
}

absl::Status Engine::StartRun(const WorkflowRow& wf) {
  // mu_ is held.
  ASSIGN_OR_RETURN(WorkflowSpec spec, ParseSpec(wf.spec, wf.source));
  ASSIGN_OR_RETURN(auto steps, store_.Steps(wf.id));
  ASSIGN_OR_RETURN(auto vms, store_.AgentVms(wf.id));
  auto hub = std::make_shared<WorkflowHub>(kWorkflowEventsKept, 1);
  hubs_[wf.id] = hub;
  auto run = std::make_unique<WorkflowRun>(RunDeps{&store_, &launcher_, limits_, metrics_}, wf,
                                           std::move(spec), std::move(steps), std::move(vms), hub);
  run->Start();
  runs_[wf.id] = std::move(run);
  return absl::OkStatus();
}

absl::Status Engine::Resume() {
  ASSIGN_OR_RETURN(auto ids, store_.Unfinished());
  std::lock_guard lock(mu_);
  for (const auto& id : ids) {
    ASSIGN_OR_RETURN(auto wf, store_.Get(id));
    if (!wf) continue;
    log::Info("resuming workflow", {{"workflow", id}});
    if (absl::Status s = StartRun(*wf); !s.ok()) {
      // A spec that no longer parses (it did when submitted): fail it visibly.
      wf->state = pb::Workflow::FAILED;
      wf->error = absl::StrCat("cannot resume: ", s.message());
      wf->end_us = absl::ToUnixMicros(absl::Now());
      RETURN_IF_ERROR(store_.UpdateWorkflow(*wf));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Engine::ParseName(const std::string& name) {
  absl::string_view id = name;
  if (!absl::ConsumePrefix(&id, "workflows/") || !IsValidId(std::string(id))) {
    return absl::InvalidArgumentError(absl::StrCat("name: \"", name, "\" is not workflows/<id>"));
  }
  return std::string(id);
}

absl::StatusOr<pb::Workflow> Engine::Submit(const pb::SubmitWorkflowRequest& req) {
  std::string source = req.source_name().empty() ? "spec" : req.source_name();
  ASSIGN_OR_RETURN(WorkflowSpec spec, ParseSpec(req.spec(), source));
  std::string id = req.workflow_id();
  if (id.empty()) {
    // A generated id never names an existing workflow (that would return it).
    for (int i = 0; i < 8 && (id.empty() || store_.Get(id).value_or(std::nullopt)); ++i) {
      ASSIGN_OR_RETURN(auto bytes, crypto::RandomBytes(4));
      id = "wf-" + crypto::HexEncode(bytes);
    }
  } else if (!IsValidWorkflowId(id)) {
    // Shorter than other ids and without "--": VM ids are built from it (vm_names.h).
    return absl::InvalidArgumentError(
        absl::StrCat("workflow_id: \"", id, "\" is not a workflow id (1-", kMaxWorkflowIdLength,
                     " of [a-z0-9-], starting with a letter, without \"--\")"));
  }
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return absl::UnavailableError("the orchestrator is shutting down");
    Reap();
    ASSIGN_OR_RETURN(auto existing, store_.Get(id));
    if (existing) {
      if (existing->spec != req.spec()) {
        return absl::AlreadyExistsError(
            absl::StrCat("workflows/", id, " already exists with a different spec"));
      }
    } else {
      ASSIGN_OR_RETURN(int unfinished, store_.CountUnfinished());
      if (unfinished >= options_.max_unfinished) {
        return absl::ResourceExhaustedError(
            absl::StrCat(unfinished, " workflows are unfinished, the limit is ",
                         options_.max_unfinished, "; wait or cancel one"));
      }
      WorkflowRow wf;
      wf.id = id;
      wf.spec = req.spec();
      wf.source = source;
      wf.display_name = spec.name;
      for (const auto& a : spec.agents) wf.agents.push_back(a.name);
      wf.state = pb::Workflow::PENDING;
      wf.create_us = absl::ToUnixMicros(absl::Now());
      std::vector<StepRow> steps;
      for (size_t i = 0; i < spec.steps.size(); ++i) {
        StepRow s;
        s.workflow_id = id;
        s.step_id = spec.steps[i].id;
        s.idx = i;
        s.agent = spec.steps[i].agent;
        s.state = pb::StepStatus::PENDING;
        s.fallback_for = spec.steps[i].fallback_for;
        steps.push_back(std::move(s));
      }
      RETURN_IF_ERROR(store_.Create(wf, steps));
      log::Info("workflow submitted", {{"workflow", id}, {"steps", spec.steps.size()}});
      RETURN_IF_ERROR(StartRun(wf));
    }
  }
  return Get("workflows/" + id);
}

absl::StatusOr<pb::Workflow> Engine::Get(const std::string& name, bool with_spec) {
  ASSIGN_OR_RETURN(std::string id, ParseName(name));
  ASSIGN_OR_RETURN(auto wf, store_.Get(id));
  if (!wf) return absl::NotFoundError(absl::StrCat(name, " does not exist"));
  ASSIGN_OR_RETURN(auto steps, store_.Steps(id));
  ASSIGN_OR_RETURN(auto vms, store_.AgentVms(id));
  return ToProto(*wf, steps, vms, with_spec);
}

absl::StatusOr<pb::ListWorkflowsResponse> Engine::List(const pb::ListWorkflowsRequest& req) {
  ASSIGN_OR_RETURN(int size, PageSize(req.page_size()));
  int64_t before = 0;  // the seq of the previous page's last workflow
  if (!req.page_token().empty()) {
    auto last = DecodePageToken(req.page_token());
    if (!last.ok() || !absl::SimpleAtoi(*last, &before) || before <= 0) {
      return absl::InvalidArgumentError("page_token: not a token from a previous page");
    }
  }
  int state = 0;
  if (!req.filter().empty()) {
    absl::string_view f = req.filter();
    pb::Workflow::State st;
    if (!absl::ConsumePrefix(&f, "state=") || !pb::Workflow::State_Parse(std::string(f), &st) ||
        st == pb::Workflow::STATE_UNSPECIFIED) {
      return absl::InvalidArgumentError(
          absl::StrCat("filter: \"", req.filter(),
                       "\" is not state=<PENDING|RUNNING|SUCCEEDED|FAILED|CANCELLING|CANCELLED>"));
    }
    state = st;
  }
  ASSIGN_OR_RETURN(auto rows, store_.List(state, before, size));
  pb::ListWorkflowsResponse out;
  for (const auto& wf : rows) {
    ASSIGN_OR_RETURN(auto steps, store_.Steps(wf.id));
    ASSIGN_OR_RETURN(auto vms, store_.AgentVms(wf.id));
    *out.add_workflows() = ToProto(wf, steps, vms, false);
  }
  if (static_cast<int>(rows.size()) == size)
    out.set_next_page_token(EncodePageToken(absl::StrCat(rows.back().seq)));
  return out;
}

absl::StatusOr<pb::Workflow> Engine::Cancel(const std::string& name) {
  ASSIGN_OR_RETURN(std::string id, ParseName(name));
  {
    std::lock_guard lock(mu_);
    auto it = runs_.find(id);
    if (it != runs_.end()) it->second->RequestCancel();
  }
  ASSIGN_OR_RETURN(auto wf, Get(name, false));
  if (!IsFinished(wf.state()) && wf.state() != pb::Workflow::CANCELLING) {
    wf.set_state(pb::Workflow::CANCELLING);  // the run records it within moments
  }
  return wf;
}

absl::Status Engine::Watch(const std::string& name,
                           const std::function<bool(const pb::WorkflowEvent&)>& send,
                           const std::function<bool()>& cancelled) {
  ASSIGN_OR_RETURN(std::string id, ParseName(name));
  std::shared_ptr<WorkflowHub> hub;
  {
    std::lock_guard lock(mu_);
    auto it = hubs_.find(id);
    if (it != hubs_.end()) hub = it->second;
  }
  int64_t seen = hub ? hub->Last() : 0;
  ASSIGN_OR_RETURN(auto wf, Get(name, false));
  pb::WorkflowEvent first;
  *first.mutable_workflow() = wf;
  *first.mutable_event_time() = ToProtoTime(absl::Now());
  if (!send(first)) return absl::CancelledError("the watcher left");
  if (IsFinished(wf.state()) || !hub) return absl::OkStatus();
  // A watcher that fell behind the ring (a gap) loses nothing it needs:
  // every event holds the whole workflow.
  while (true) {
    WorkflowHub::Batch b = hub->Since(seen, absl::Seconds(1));
    for (const auto& [id, e] : b.events) {
      if (!send(e)) return absl::CancelledError("the watcher left");
      seen = id;
    }
    if (b.closed && b.events.empty()) return absl::OkStatus();
    if (cancelled()) return absl::CancelledError("the watcher left");
  }
}

absl::StatusOr<pb::StepOutput> Engine::Output(const std::string& workflow,
                                              const std::string& step) {
  ASSIGN_OR_RETURN(std::string id, ParseName(workflow));
  ASSIGN_OR_RETURN(auto wf, store_.Get(id));
  if (!wf) return absl::NotFoundError(absl::StrCat(workflow, " does not exist"));
  ASSIGN_OR_RETURN(auto steps, store_.Steps(id));
  bool known = false;
  for (const auto& s : steps) known = known || s.step_id == step;
  if (!known) return absl::NotFoundError(absl::StrCat(workflow, " has no step \"", step, "\""));
  ASSIGN_OR_RETURN(auto out, store_.Output(id, step));
  if (!out)
    return absl::NotFoundError(
        absl::StrCat("step \"", step, "\" of ", workflow, " has not run yet"));
  return ToProto(id, step, *out);
}

}  // namespace clawos::orchestrator
