#include "inference-proxy/admin_service.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/grpc_server.h"
#include "common/grpc_status.h"
#include "common/grpc_util.h"
#include "common/request_id.h"

namespace clawos::proxy {
namespace {

grpc::Status Invalid(const std::string& m) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, m);
}

// "limits/default" → "default"; "limits/agents/x" → "agents/x"; the REST
// API's form of the same, "agents/x/limits" (GET /v1/agents/x/limits), too.
absl::StatusOr<std::string> SubjectOf(const std::string& name) {
  if (absl::StartsWith(name, "limits/") && name.size() > 7) return name.substr(7);
  if (absl::EndsWith(name, "/limits") && name.size() > 7 && !absl::StartsWith(name, "/")) {
    return name.substr(0, name.size() - 7);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("name \"", name.substr(0, 80),
                   "\" is not limits/<subject>, <subject>/limits or limits/default"));
}

}  // namespace

void ProxyAdminService::Fill(const std::string& subject, const LimitOverride* own,
                             ppb::Limit* out) {
  out->set_name("limits/" + subject);
  if (subject == kDefaultSubject) {
    LimitValues d = limiter_.defaults();
    out->set_requests_per_minute(d.requests_per_minute);
    out->set_tokens_per_minute(d.tokens_per_minute);
    out->set_budget_tokens(d.budget_tokens);
    *out->mutable_budget_window() = ToProtoDuration(d.budget_window);
    for (const auto& m : d.allowed_models) out->add_allowed_models(m);
    return;
  }
  if (own) {
    if (own->requests_per_minute) out->set_requests_per_minute(*own->requests_per_minute);
    if (own->tokens_per_minute) out->set_tokens_per_minute(*own->tokens_per_minute);
    if (own->budget_tokens) out->set_budget_tokens(*own->budget_tokens);
    if (own->budget_window) *out->mutable_budget_window() = ToProtoDuration(*own->budget_window);
    if (own->allowed_models) {
      for (const auto& m : *own->allowed_models) out->add_allowed_models(m);
    }
  }
  Usage u = limiter_.Current(subject);
  out->mutable_usage()->set_requests_last_minute(u.requests_last_minute);
  out->mutable_usage()->set_tokens_last_minute(u.tokens_last_minute);
  out->mutable_usage()->set_budget_tokens_used(u.tokens_in_budget_window);
}

grpc::Status ProxyAdminService::GetLimit(Ctx* ctx, const ppb::GetLimitRequest* req,
                                         ppb::Limit* resp) {
  auto subject = SubjectOf(req->name());
  if (!subject.ok()) return ToGrpcStatus(subject.status());
  auto all = store_.Load();
  if (!all.ok()) return ToGrpcStatus(all.status());
  auto it = all->find(*subject);
  if (*subject != kDefaultSubject && it == all->end()) {
    return grpc::Status(
        grpc::StatusCode::NOT_FOUND,
        absl::StrCat(*subject, " has no limit of its own (it runs under the default)"));
  }
  Fill(*subject, it == all->end() ? nullptr : &it->second, resp);
  return grpc::Status::OK;
}

grpc::Status ProxyAdminService::ListLimits(Ctx* ctx, const ppb::ListLimitsRequest* req,
                                           ppb::ListLimitsResponse* resp) {
  auto all = store_.Load();
  if (!all.ok()) return ToGrpcStatus(all.status());
  Fill(kDefaultSubject, nullptr, resp->add_limits());
  for (const auto& [subject, o] : *all) {
    if (subject != kDefaultSubject) Fill(subject, &o, resp->add_limits());
  }
  return grpc::Status::OK;
}

grpc::Status ProxyAdminService::UpdateLimit(Ctx* ctx, const ppb::UpdateLimitRequest* req,
                                            ppb::Limit* resp) {
  const ppb::Limit& l = req->limit();
  auto subject = SubjectOf(l.name());
  if (!subject.ok()) return ToGrpcStatus(subject.status());
  std::vector<std::string> paths(req->update_mask().paths().begin(),
                                 req->update_mask().paths().end());
  const bool explicit_mask = !paths.empty();
  if (paths.empty()) {
    paths = {"requests_per_minute", "tokens_per_minute", "budget_tokens", "budget_window",
             "allowed_models"};
  }
  std::lock_guard lock(mu_);
  auto all = store_.Load();
  if (!all.ok()) return ToGrpcStatus(all.status());
  auto it = all->find(*subject);
  if (it == all->end() && *subject != kDefaultSubject && !req->allow_missing()) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat(*subject, " has no limit (set allow_missing to create it)"));
  }
  LimitOverride o = it == all->end() ? LimitOverride{} : it->second;
  for (const std::string& p : paths) {
    if (p == "requests_per_minute") {
      o.requests_per_minute =
          l.has_requests_per_minute() ? std::optional(l.requests_per_minute()) : std::nullopt;
    } else if (p == "tokens_per_minute") {
      o.tokens_per_minute =
          l.has_tokens_per_minute() ? std::optional(l.tokens_per_minute()) : std::nullopt;
    } else if (p == "budget_tokens") {
      o.budget_tokens = l.has_budget_tokens() ? std::optional(l.budget_tokens()) : std::nullopt;
    } else if (p == "budget_window") {
      o.budget_window = l.has_budget_window() ? std::optional(FromProtoDuration(l.budget_window()))
                                              : std::nullopt;
    } else if (p == "allowed_models") {
      if (l.allowed_models_size() > 64) return Invalid("allowed_models: at most 64");
      std::vector<std::string> models;
      for (const std::string& m : l.allowed_models()) {
        if (m.empty() || m.size() > 128) return Invalid("allowed_models: 1-128 characters each");
        models.push_back(m);
      }
      // Named in the caller's own mask, an empty list means none beyond the
      // token's model (even where the default allows more); left to the
      // default mask (a PUT without it), it falls back to the default's.
      o.allowed_models =
          models.empty() && !explicit_mask ? std::nullopt : std::optional(std::move(models));
    } else if (p == "budget_micro_usd") {
      return Invalid("budget_micro_usd is not enforced by this proxy; use budget_tokens");
    } else {
      return Invalid(absl::StrCat("\"", p,
                                  "\" cannot be set; settable: requests_per_minute, "
                                  "tokens_per_minute, budget_tokens, budget_micro_usd, "
                                  "budget_window, allowed_models"));
    }
  }
  for (const auto* v : {&o.requests_per_minute, &o.tokens_per_minute, &o.budget_tokens}) {
    if (*v && **v < 0) return Invalid("limits must not be negative");
  }
  if (o.budget_window &&
      (*o.budget_window < absl::Minutes(1) || *o.budget_window > absl::Hours(24 * 366))) {
    return Invalid("budget_window must be 1m to 366d");
  }
  if (auto s = store_.Put(*subject, o); !s.ok()) return ToGrpcStatus(s);
  if (*subject == kDefaultSubject) {
    limiter_.SetDefaults(Merge(limiter_.defaults(), o));
  } else {
    limiter_.SetOverride(*subject, o);
  }
  Fill(*subject, &o, resp);
  return grpc::Status::OK;
}

grpc::Status ProxyAdminService::DeleteLimit(Ctx* ctx, const ppb::DeleteLimitRequest* req,
                                            google::protobuf::Empty*) {
  auto subject = SubjectOf(req->name());
  if (!subject.ok()) return ToGrpcStatus(subject.status());
  if (*subject == kDefaultSubject) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "limits/default can only be updated, not deleted");
  }
  std::lock_guard lock(mu_);
  if (auto s = store_.Delete(*subject); !s.ok()) return ToGrpcStatus(s);
  limiter_.ClearOverride(*subject);
  return grpc::Status::OK;
}

grpc::Status ProxyAdminService::QueryUsage(Ctx* ctx, const ppb::QueryUsageRequest* req,
                                           ppb::QueryUsageResponse* resp) {
  const absl::Time now = absl::Now();
  absl::Time end = req->has_end_time() ? FromProtoTime(req->end_time()) : now;
  absl::Time start =
      req->has_start_time() ? FromProtoTime(req->start_time()) : end - absl::Hours(24 * 30);
  if (start >= end) return Invalid("start_time must be before end_time");
  if (req->group_by_size() > 0 || !req->model().empty()) {
    return grpc::Status(
        grpc::StatusCode::UNIMPLEMENTED,
        "grouping and the model filter are not built yet; query totals per subject");
  }
  auto t = ledger_.Totals(req->subject(), start, end);
  if (!t.ok()) return ToGrpcStatus(t.status());
  auto* row = resp->mutable_total();
  row->set_subject(req->subject());
  row->set_request_count(t->requests);
  row->set_rejected_count(t->rejected);
  row->set_error_count(t->errors);
  row->set_prompt_tokens(t->prompt_tokens);
  row->set_completion_tokens(t->completion_tokens);
  *resp->add_rows() = *row;
  return grpc::Status::OK;
}

grpc::Status ProxyAdminService::ListAuditRecords(Ctx* ctx, const ppb::ListAuditRecordsRequest* req,
                                                 ppb::ListAuditRecordsResponse* resp) {
  auto size = PageSize(req->page_size());
  if (!size.ok()) return ToGrpcStatus(size.status());
  std::string subject, outcome, request_id;
  if (!req->filter().empty()) {
    for (absl::string_view term : absl::StrSplit(req->filter(), " AND ")) {
      size_t eq = term.find('=');
      std::string field(term.substr(0, eq));
      std::string value(eq == absl::string_view::npos ? "" : term.substr(eq + 1));
      if (field == "subject") {
        subject = value;
      } else if (field == "outcome") {
        outcome = value;
      } else if (field == "request_id") {
        request_id = value;
      } else {
        return Invalid(
            absl::StrCat("filter: unknown field \"", field, "\" (subject, outcome, request_id)"));
      }
    }
  }
  auto rows = ledger_.Recent(subject, absl::InfinitePast(), 10000);
  if (!rows.ok()) return ToGrpcStatus(rows.status());
  for (const LedgerRow& r : *rows) {
    if (!outcome.empty() && outcome != OutcomeName(r.outcome)) continue;
    if (!request_id.empty() && request_id != r.request_id) continue;
    if (resp->audit_records_size() == *size) break;
    auto* a = resp->add_audit_records();
    a->set_name("auditRecords/" + r.request_id);
    a->set_request_id(r.request_id);
    *a->mutable_time() = ToProtoTime(r.time);
    a->set_subject(r.subject);
    a->set_vm(r.vm);
    a->set_method(r.method);
    a->set_path(r.path);
    a->set_model(r.model);
    a->set_provider(r.provider);
    a->set_streamed(r.streamed);
    a->set_outcome(static_cast<ppb::AuditRecord::Outcome>(r.outcome));
    a->set_http_status(r.http_status);
    a->set_prompt_tokens(r.prompt_tokens);
    a->set_completion_tokens(r.completion_tokens);
    *a->mutable_latency() = ToProtoDuration(r.latency);
    a->set_error(r.error);
  }
  return grpc::Status::OK;
}

}  // namespace clawos::proxy
