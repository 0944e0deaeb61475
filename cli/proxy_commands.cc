#include "cli/proxy_commands.h"

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "clawos/proxy/v1/proxy_admin.grpc.pb.h"
#include "cli/api_client.h"
#include "common/duration.h"
#include "common/grpc_client.h"
#include "common/grpc_status.h"
#include "common/grpc_util.h"

namespace clawos::cli {
namespace {

namespace ppb = ::clawos::proxy::v1;

// The proxy's commands speak to its admin API directly (its trusted transport).
template <typename Req, typename Resp>
absl::StatusOr<Resp> Call(const Context& ctx, const char* method, const Req& req) {
  auto api = MakeDirectApiClient(ctx);
  if (!api.ok()) return api.status();
  return (*api)->Call<Resp>(absl::StrCat("clawos.proxy.v1.ProxyAdminService.", method), req);
}

std::string Opt(bool has, int64_t v) { return has ? std::to_string(v) : "default"; }

void PrintLimit(const ppb::Limit& l) {
  std::cout << absl::StrFormat(
      "%-28s rpm %-8s tpm %-8s budget %-10s window %-8s  used: %d req, "
      "%d tok/min, %d tok in window\n",
      l.name().substr(7), Opt(l.has_requests_per_minute(), l.requests_per_minute()),
      Opt(l.has_tokens_per_minute(), l.tokens_per_minute()),
      Opt(l.has_budget_tokens(), l.budget_tokens()),
      l.has_budget_window() ? clawos::FormatDuration(FromProtoDuration(l.budget_window()))
                            : "default",
      l.usage().requests_last_minute(), l.usage().tokens_last_minute(),
      l.usage().budget_tokens_used());
  if (l.allowed_models_size() > 0) {
    std::cout << "  also allowed: " << absl::StrJoin(l.allowed_models(), ", ") << "\n";
  }
}

}  // namespace

void AddProxyCommands(CLI::App& app, Context& ctx, int& rc) {
  auto* proxy = app.add_subcommand("proxy", "The inference proxy's limits, usage and audit")
                    ->require_subcommand(1);
  auto* limits = proxy->add_subcommand("limits", "Per-agent limits")->require_subcommand(1);

  auto* list = limits->add_subcommand("list", "The default and every agent's own limit");
  list->callback([&ctx, &rc] {
    auto r = Call<ppb::ListLimitsRequest, ppb::ListLimitsResponse>(ctx, "ListLimits",
                                                                   ppb::ListLimitsRequest{});
    if (!r.ok()) {
      rc = ReportError("proxy limits list", r.status());
      return;
    }
    if (ctx.json()) {
      std::cout << ToJson(*r) << "\n";
      return;
    }
    for (const auto& l : r->limits()) PrintLimit(l);
  });

  struct SetFlags {
    std::string subject;
    std::optional<int64_t> rpm, tpm, budget;
    std::string window;
    std::vector<std::string> models;
    bool reset_models = false;
  };
  auto sf = std::make_shared<SetFlags>();
  auto* set = limits->add_subcommand(
      "set", "Set an agent's limits (SUBJECT, e.g. agents/a1, or default); 0 means no limit");
  set->add_option("subject", sf->subject, "agents/<id> or default")->required();
  set->add_option("--rpm", sf->rpm, "Requests per minute");
  set->add_option("--tpm", sf->tpm, "Tokens per minute");
  set->add_option("--budget-tokens", sf->budget, "Token budget per window");
  set->add_option("--budget-window", sf->window, "The budget's sliding window, e.g. 24h");
  set->add_option("--allow-model", sf->models,
                  "A model the agent may use beside its VM's own (repeatable; * for any)");
  set->add_flag("--only-vm-model", sf->reset_models,
                "Forget the allowed models: only the VM's own model again");
  set->callback([&ctx, &rc, sf] {
    ppb::UpdateLimitRequest req;
    req.set_allow_missing(true);
    auto* l = req.mutable_limit();
    l->set_name("limits/" + sf->subject);
    auto* mask = req.mutable_update_mask();
    if (sf->rpm) {
      l->set_requests_per_minute(*sf->rpm);
      mask->add_paths("requests_per_minute");
    }
    if (sf->tpm) {
      l->set_tokens_per_minute(*sf->tpm);
      mask->add_paths("tokens_per_minute");
    }
    if (sf->budget) {
      l->set_budget_tokens(*sf->budget);
      mask->add_paths("budget_tokens");
    }
    if (!sf->window.empty()) {
      auto d = clawos::ParseDuration(sf->window);
      if (!d.ok()) {
        rc = ReportError("proxy limits set", d.status());
        return;
      }
      *l->mutable_budget_window() = ToProtoDuration(*d);
      mask->add_paths("budget_window");
    }
    if (!sf->models.empty() || sf->reset_models) {
      for (const auto& m : sf->models) l->add_allowed_models(m);
      mask->add_paths("allowed_models");
    }
    if (mask->paths_size() == 0) {
      rc = ReportError("proxy limits set",
                       absl::InvalidArgumentError("give at least one of --rpm, --tpm, "
                                                  "--budget-tokens, --budget-window, "
                                                  "--allow-model, --only-vm-model"));
      return;
    }
    auto r = Call<ppb::UpdateLimitRequest, ppb::Limit>(ctx, "UpdateLimit", req);
    if (!r.ok()) {
      rc = ReportError("proxy limits set", r.status());
      return;
    }
    if (ctx.json()) {
      std::cout << ToJson(*r) << "\n";
    } else {
      PrintLimit(*r);
    }
  });

  auto subject = std::make_shared<std::string>();
  auto* del = limits->add_subcommand("delete", "Remove an agent's own limit (back to the default)");
  del->add_option("subject", *subject, "agents/<id>")->required();
  del->callback([&ctx, &rc, subject] {
    ppb::DeleteLimitRequest req;
    req.set_name("limits/" + *subject);
    auto r = Call<ppb::DeleteLimitRequest, google::protobuf::Empty>(ctx, "DeleteLimit", req);
    if (!r.ok()) rc = ReportError("proxy limits delete", r.status());
  });

  auto since = std::make_shared<std::string>("24h");
  auto who = std::make_shared<std::string>();
  auto* usage = proxy->add_subcommand("usage", "Requests and tokens over a window");
  usage->add_option("--subject", *who, "Only this agent (agents/<id>)");
  usage->add_option("--since", *since, "How far back, e.g. 1h, 7d")->capture_default_str();
  usage->callback([&ctx, &rc, since, who] {
    auto d = clawos::ParseDuration(*since);
    if (!d.ok()) {
      rc = ReportError("proxy usage", d.status());
      return;
    }
    ppb::QueryUsageRequest req;
    req.set_subject(*who);
    *req.mutable_start_time() = ToProtoTime(absl::Now() - *d);
    auto r = Call<ppb::QueryUsageRequest, ppb::QueryUsageResponse>(ctx, "QueryUsage", req);
    if (!r.ok()) {
      rc = ReportError("proxy usage", r.status());
      return;
    }
    if (ctx.json()) {
      std::cout << ToJson(*r) << "\n";
      return;
    }
    const auto& t = r->total();
    std::cout << absl::StrFormat(
        "%s over %s: %d requests (%d refused by limits, %d errors), %d prompt + %d completion "
        "tokens\n",
        who->empty() ? "all agents" : *who, *since, t.request_count(), t.rejected_count(),
        t.error_count(), t.prompt_tokens(), t.completion_tokens());
  });

  auto filter = std::make_shared<std::string>();
  auto* audit = proxy->add_subcommand("audit", "Recent requests, newest first");
  audit->add_option("--filter", *filter, "subject=agents/a1 AND outcome=RATE_LIMITED");
  audit->callback([&ctx, &rc, filter] {
    ppb::ListAuditRecordsRequest req;
    req.set_filter(*filter);
    req.set_page_size(50);
    auto r = Call<ppb::ListAuditRecordsRequest, ppb::ListAuditRecordsResponse>(
        ctx, "ListAuditRecords", req);
    if (!r.ok()) {
      rc = ReportError("proxy audit", r.status());
      return;
    }
    if (ctx.json()) {
      std::cout << ToJson(*r) << "\n";
      return;
    }
    for (const auto& a : r->audit_records()) {
      std::cout << absl::StrFormat("%-24s %-20s %-22s %-16s %3d %6d+%-6d %s\n", a.request_id(),
                                   a.subject(), a.path(),
                                   ppb::AuditRecord::Outcome_Name(a.outcome()), a.http_status(),
                                   a.prompt_tokens(), a.completion_tokens(), a.model());
    }
  });
}

}  // namespace clawos::cli
