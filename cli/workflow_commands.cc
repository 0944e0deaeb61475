#include "cli/workflow_commands.h"

#include <filesystem>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "clawos/orchestrator/v1/orchestrator.pb.h"
#include "cli/api_client.h"
#include "cli/launcher_client.h"
#include "cli/terminal_text.h"
#include "common/files.h"
#include "orchestrator/states.h"

namespace clawos::cli {

namespace opb = ::clawos::orchestrator::v1;
namespace {

std::string WorkflowName(const std::string& id) {
  return absl::StartsWith(id, "workflows/") ? id : "workflows/" + id;
}

std::string StepState(const opb::StepStatus& s) { return opb::StepStatus::State_Name(s.state()); }

// Exit code for a finished workflow: 0 SUCCEEDED, 1 FAILED or CANCELLED.
int ExitFor(const opb::Workflow& wf) { return wf.state() == opb::Workflow::SUCCEEDED ? 0 : 1; }

void PrintWorkflow(const opb::Workflow& wf) {
  std::cout << "name:     " << wf.name() << "\n";
  if (!wf.display_name().empty()) std::cout << "title:    " << wf.display_name() << "\n";
  std::cout << "state:    " << opb::Workflow::State_Name(wf.state()) << "\n";
  if (!wf.error().empty()) std::cout << "error:    " << TerminalSafeLine(wf.error()) << "\n";
  std::cout << "created:  " << Age(wf.create_time()) << " ago\n";
  for (const auto& a : wf.agents()) {
    std::cout << "agent:    " << a.name() << (a.subject().empty() ? "" : " (" + a.subject() + ")")
              << "\n";
  }
  std::cout << absl::StrFormat("\n%-20s %-10s %-8s %-4s %-28s %s\n", "STEP", "STATE", "ATTEMPTS",
                               "EXIT", "VM", "ERROR");
  for (const auto& s : wf.steps()) {
    std::string step = s.id() + (s.fallback_for().empty() ? "" : " (for " + s.fallback_for() + ")");
    std::cout << absl::StrFormat("%-20s %-10s %-8d %-4s %-28s %s\n", step, StepState(s),
                                 s.attempts(),
                                 s.has_exit_code() ? std::to_string(s.exit_code()) : "-",
                                 s.vm().empty() ? "-" : s.vm(), TerminalSafeLine(s.error()));
  }
}

// Prints each step's changes on stderr, as they come.
class ProgressPrinter {
 public:
  explicit ProgressPrinter(bool quiet) : quiet_(quiet), start_(absl::Now()) {}
  void On(const opb::WorkflowEvent& e) {
    for (const auto& s : e.workflow().steps()) {
      std::string now = StepState(s) + "/" + std::to_string(s.attempts());
      auto& seen = seen_[s.id()];
      if (seen == now) continue;
      bool first = seen.empty();
      seen = now;
      if (quiet_ || (first && s.state() == opb::StepStatus::PENDING)) continue;
      std::string detail;
      if (s.state() == opb::StepStatus::RUNNING)
        detail = absl::StrCat("attempt ", s.attempts(), " in ", s.vm());
      if (!s.error().empty()) detail = TerminalSafeLine(s.error());
      std::cerr << absl::StrFormat("  %6.1fs  %-20s %-10s %s\n",
                                   absl::ToDoubleSeconds(absl::Now() - start_), s.id(),
                                   StepState(s), detail);
    }
  }

 private:
  bool quiet_;
  absl::Time start_;
  std::map<std::string, std::string> seen_;
};

std::string Method(const char* name) {
  return absl::StrCat("clawos.orchestrator.v1.OrchestratorService.", name);
}

absl::StatusOr<opb::Workflow> GetWorkflow(ApiClient& api, const std::string& name) {
  opb::GetWorkflowRequest req;
  req.set_name(name);
  return api.Call<opb::Workflow>(Method("GetWorkflow"), req);
}

// Follows a workflow to its end; prints progress (text) and the final state.
int Follow(const Context& ctx, ApiClient& api, const std::string& name, const char* what) {
  ProgressPrinter progress(ctx.json());
  absl::StatusOr<opb::Workflow> wf;
  // A watch cut short (the orchestrator or control plane restarting) is
  // watched again until the workflow is finished.
  for (int cuts = 0;; ++cuts) {
    opb::WatchWorkflowRequest watch;
    watch.set_name(name);
    absl::Status s = api.Each<opb::WorkflowEvent>(Method("WatchWorkflow"), watch,
                                                  [&](const opb::WorkflowEvent& e) {
                                                    progress.On(e);
                                                    return absl::OkStatus();
                                                  });
    if (!s.ok() && !(absl::IsUnavailable(s) && cuts < 30)) return ReportError(what, s);
    wf = GetWorkflow(api, name);
    if (!wf.ok() && !(absl::IsUnavailable(wf.status()) && cuts < 30))
      return ReportError(what, wf.status());
    if (wf.ok() && orchestrator::IsFinished(wf->state())) break;
    absl::SleepFor(absl::Seconds(2));
  }
  if (ctx.json()) {
    std::cout << ToJson(*wf) << "\n";
  } else {
    std::cout << wf->name() << " " << opb::Workflow::State_Name(wf->state())
              << (wf->error().empty() ? "" : ": " + wf->error()) << "\n";
  }
  return ExitFor(*wf);
}

}  // namespace

void AddWorkflowCommands(CLI::App& app, Context& ctx, int& rc) {
  auto* wf = app.add_subcommand("workflow", "Multi-agent workflows on clawos-orchestrator");
  wf->require_subcommand(1);

  auto* submit = wf->add_subcommand("submit", "Submit a workflow spec (YAML or JSON; - for stdin)");
  auto file = std::make_shared<std::string>();
  auto id = std::make_shared<std::string>();
  auto wait = std::make_shared<bool>(false);
  submit->add_option("file", *file, "The spec file (docs/workflow-spec.md)")->required();
  submit->add_option("--id", *id,
                     "Workflow id (default: generated); submitting the same spec again is safe");
  submit->add_flag(
      "--wait", *wait,
      "Follow it to the end, printing each step's progress; exit 1 unless it succeeds");
  submit->callback([&ctx, &rc, file, id, wait] {
    opb::SubmitWorkflowRequest req;
    if (*file == "-") {
      req.set_spec(ReadStdin());
      req.set_source_name("stdin");
    } else {
      auto text = ReadFile(*file);
      if (!text.ok()) {
        rc = ReportError("workflow submit", text.status());
        return;
      }
      req.set_spec(*text);
      req.set_source_name(std::filesystem::path(*file).filename().string());
    }
    req.set_workflow_id(*id);
    auto api = MakeApiClient(ctx);
    if (!api.ok()) {
      rc = ReportError("workflow submit", api.status());
      return;
    }
    auto w = (*api)->Call<opb::Workflow>(Method("SubmitWorkflow"), req);
    if (!w.ok()) {
      rc = ReportError("workflow submit", w.status());
      return;
    }
    if (!*wait) {
      if (ctx.json()) {
        std::cout << ToJson(*w) << "\n";
      } else {
        std::cout << w->name() << "\n";
      }
      return;
    }
    if (!ctx.json()) std::cerr << "submitted " << w->name() << "\n";
    rc = Follow(ctx, **api, w->name(), "workflow submit");
  });

  auto* list = wf->add_subcommand("list", "List workflows, newest first");
  auto state = std::make_shared<std::string>();
  list->add_option("--state", *state, "Only this state, e.g. RUNNING");
  list->callback([&ctx, &rc, state] {
    auto api = MakeApiClient(ctx);
    if (!api.ok()) {
      rc = ReportError("workflow list", api.status());
      return;
    }
    opb::ListWorkflowsRequest req;
    req.set_page_size(1000);
    if (!state->empty()) req.set_filter("state=" + *state);
    auto r = (*api)->Call<opb::ListWorkflowsResponse>(Method("ListWorkflows"), req);
    if (!r.ok()) {
      rc = ReportError("workflow list", r.status());
      return;
    }
    if (ctx.json()) {
      std::cout << ToJson(*r) << "\n";
      return;
    }
    std::cout << absl::StrFormat("%-32s %-11s %-7s %-6s %s\n", "NAME", "STATE", "STEPS", "AGE",
                                 "TITLE");
    for (const auto& w : r->workflows()) {
      int done = 0;
      for (const auto& s : w.steps()) {
        done += orchestrator::IsTerminalStep(s.state());
      }
      std::cout << absl::StrFormat(
          "%-32s %-11s %-7s %-6s %s\n", w.name(), opb::Workflow::State_Name(w.state()),
          absl::StrCat(done, "/", w.steps_size()), Age(w.create_time()), w.display_name());
    }
  });

  auto* get = wf->add_subcommand("get", "Show a workflow and its steps");
  auto get_id = std::make_shared<std::string>();
  get->add_option("id", *get_id, "Workflow id")->required();
  get->callback([&ctx, &rc, get_id] {
    auto api = MakeApiClient(ctx);
    if (!api.ok()) {
      rc = ReportError("workflow get", api.status());
      return;
    }
    auto w = GetWorkflow(**api, WorkflowName(*get_id));
    if (!w.ok()) {
      rc = ReportError("workflow get", w.status());
      return;
    }
    if (ctx.json()) {
      std::cout << ToJson(*w) << "\n";
    } else {
      PrintWorkflow(*w);
    }
  });

  auto* watch = wf->add_subcommand(
      "watch", "Follow a workflow's steps until it finishes (exit 1 unless it succeeds)");
  auto watch_id = std::make_shared<std::string>();
  watch->add_option("id", *watch_id, "Workflow id")->required();
  watch->callback([&ctx, &rc, watch_id] {
    auto api = MakeApiClient(ctx);
    if (!api.ok()) {
      rc = ReportError("workflow watch", api.status());
      return;
    }
    rc = Follow(ctx, **api, WorkflowName(*watch_id), "workflow watch");
  });

  auto* cancel =
      wf->add_subcommand("cancel", "Cancel a workflow: kill its commands, delete its VMs");
  auto cancel_id = std::make_shared<std::string>();
  cancel->add_option("id", *cancel_id, "Workflow id")->required();
  cancel->callback([&ctx, &rc, cancel_id] {
    auto api = MakeApiClient(ctx);
    if (!api.ok()) {
      rc = ReportError("workflow cancel", api.status());
      return;
    }
    opb::CancelWorkflowRequest cancel;
    cancel.set_name(WorkflowName(*cancel_id));
    auto w = (*api)->Call<opb::Workflow>(Method("CancelWorkflow"), cancel);
    if (!w.ok()) {
      rc = ReportError("workflow cancel", w.status());
      return;
    }
    if (ctx.json()) {
      std::cout << ToJson(*w) << "\n";
    } else {
      std::cout << w->name() << " " << opb::Workflow::State_Name(w->state()) << "\n";
    }
  });

  auto* output =
      wf->add_subcommand("output", "Print a step's output (its stdout, or --stderr, --file, ...)");
  auto out_id = std::make_shared<std::string>();
  auto out_step = std::make_shared<std::string>();
  auto out_file = std::make_shared<std::string>();
  auto show_stderr = std::make_shared<bool>(false);
  auto show_files = std::make_shared<bool>(false);
  auto show_transcript = std::make_shared<bool>(false);
  output->add_option("id", *out_id, "Workflow id")->required();
  output->add_option("step", *out_step, "Step id")->required();
  output->add_option("--file", *out_file, "Print this file the step left under /workspace/out");
  output->add_flag("--stderr", *show_stderr, "Print the stderr tail instead");
  output->add_flag("--files", *show_files, "List the files it left under /workspace/out");
  output->add_flag("--transcript", *show_transcript,
                   "Print a prompt step's agent transcript (JSONL)");
  output->callback(
      [&ctx, &rc, out_id, out_step, out_file, show_stderr, show_files, show_transcript] {
        auto api = MakeApiClient(ctx);
        if (!api.ok()) {
          rc = ReportError("workflow output", api.status());
          return;
        }
        opb::GetStepOutputRequest out;
        out.set_workflow(WorkflowName(*out_id));
        out.set_step(*out_step);
        auto o = (*api)->Call<opb::StepOutput>(Method("GetStepOutput"), out);
        if (!o.ok()) {
          rc = ReportError("workflow output", o.status());
          return;
        }
        if (ctx.json()) {
          std::cout << ToJson(*o) << "\n";
        } else if (!out_file->empty()) {
          for (const auto& f : o->files()) {
            if (f.path() != *out_file) continue;
            if (!f.skipped().empty()) {
              rc = ReportError("workflow output", absl::FailedPreconditionError(
                                                      f.path() + " was not kept: " + f.skipped()));
            } else {
              std::cout << f.content();
            }
            return;
          }
          rc = ReportError(
              "workflow output",
              absl::NotFoundError("step " + *out_step + " left no /workspace/out/" + *out_file));
        } else if (*show_files) {
          for (const auto& f : o->files()) {
            std::cout << absl::StrFormat(
                "%10s  %s%s\n", f.skipped().empty() ? std::to_string(f.size_bytes()) : "-",
                TerminalSafeLine(f.path()),
                f.skipped().empty() ? "" : "  (" + TerminalSafeLine(f.skipped()) + ")");
          }
        } else if (*show_stderr) {
          std::cout << o->stderr_tail();
        } else if (*show_transcript) {
          std::cout << o->transcript();
        } else {
          std::cout << o->stdout_text();
          if (o->stdout_truncated()) std::cerr << "clawos: (the output was cut at 64 KiB)\n";
        }
      });
}

}  // namespace clawos::cli
