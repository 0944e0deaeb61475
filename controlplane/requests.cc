#include "controlplane/requests.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/proto_json.h"
#include "common/utf8.h"

namespace clawos::controlplane {
namespace {

std::string Query(const http::Target& t, const std::string& name) {
  auto it = t.query.find(name);
  return it == t.query.end() ? "" : it->second;
}

// A query parameter that goes into a proto string: valid UTF-8, or the
// daemon could not even read the request (a 500 for the client's mistake).
absl::Status TextQuery(const http::Target& t, const std::string& name, std::string* out) {
  *out = Query(t, name);
  if (!IsValidUtf8(*out)) {
    return absl::InvalidArgumentError(
        absl::StrCat("query parameter ", name, " is not valid UTF-8"));
  }
  return absl::OkStatus();
}

// ?page_size, ?page_token and ?filter (when `filter` is given) of a List call.
template <typename Req>
absl::Status ListQuery(const http::Target& t, Req* out, std::string* filter = nullptr) {
  auto size = PageSizeQuery(t);
  if (!size.ok()) return size.status();
  out->set_page_size(*size);
  if (auto s = TextQuery(t, "page_token", out->mutable_page_token()); !s.ok()) return s;
  return filter ? TextQuery(t, "filter", filter) : absl::OkStatus();
}

absl::StatusOr<int64_t> IntQuery(const http::Target& t, const std::string& name, int64_t def) {
  auto it = t.query.find(name);
  if (it == t.query.end() || it->second.empty()) return def;
  int64_t v;
  if (!absl::SimpleAtoi(it->second, &v) || v < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("query parameter ", name, " must be a non-negative integer"));
  }
  return v;
}

bool BoolQuery(const http::Target& t, const std::string& name) {
  std::string v = Query(t, name);
  return v == "true" || v == "1";
}

std::string Param(const RequestInput& in, const std::string& name) {
  auto it = in.match.params.find(name);
  return it == in.match.params.end() ? "" : it->second;
}

std::string Vm(const RequestInput& in) { return "vms/" + Param(in, "name"); }
std::string Agent(const RequestInput& in) { return "agents/" + Param(in, "id"); }
std::string Workflow(const RequestInput& in) { return "workflows/" + Param(in, "workflow"); }

}  // namespace

absl::StatusOr<int32_t> PageSizeQuery(const http::Target& t) {
  auto size = IntQuery(t, "page_size", 0);
  if (!size.ok()) return size.status();
  return static_cast<int32_t>(std::min<int64_t>(*size, 1000));
}

absl::StatusOr<std::vector<std::string>> LimitFields(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("the body must be a JSON object of limits");
  }
  static const std::vector<std::string> kSettable = {"requests_per_minute", "tokens_per_minute",
                                                     "budget_tokens", "budget_micro_usd",
                                                     "budget_window"};
  const auto* d = ppb::Limit::descriptor();
  std::vector<std::string> out;
  for (const auto& [key, value] : j.items()) {
    const auto* f = d->FindFieldByName(key);
    if (!f) f = d->FindFieldByCamelcaseName(key);
    if (f && f->name() == "name") continue;  // checked against the path
    if (!f || std::find(kSettable.begin(), kSettable.end(), f->name()) == kSettable.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", key,
                       "\" cannot be set; settable: requests_per_minute, tokens_per_minute, "
                       "budget_tokens, budget_micro_usd, budget_window"));
    }
    out.push_back(f->name());
  }
  if (out.empty()) return absl::InvalidArgumentError("the body sets no limit");
  return out;
}

absl::Status ToRequest(const RequestInput& in, lpb::ListVmsRequest* out) {
  return ListQuery(in.target, out, out->mutable_filter());
}

absl::Status ToRequest(const RequestInput& in, lpb::CreateVmRequest* out) {
  return FromJson(in.req.body, out);
}

absl::Status ToRequest(const RequestInput& in, lpb::GetVmRequest* out) {
  out->set_name(Vm(in));
  return absl::OkStatus();
}

absl::Status ToRequest(const RequestInput& in, lpb::DeleteVmRequest* out) {
  out->set_name(Vm(in));
  out->set_force(BoolQuery(in.target, "force"));
  return absl::OkStatus();
}

// An optional JSON body (the options), then the VM from the path.
template <typename Req>
absl::Status OptionsForVm(const RequestInput& in, Req* out) {
  if (!in.req.body.empty()) {
    if (auto s = FromJson(in.req.body, out); !s.ok()) return s;
  }
  out->set_name(Vm(in));
  return absl::OkStatus();
}

absl::Status ToRequest(const RequestInput& in, lpb::StartVmRequest* out) {
  return OptionsForVm(in, out);
}

absl::Status ToRequest(const RequestInput& in, lpb::StopVmRequest* out) {
  return OptionsForVm(in, out);
}

absl::Status ToRequest(const RequestInput& in, lpb::ExecVmRequest* out) {
  if (auto s = FromJson(in.req.body, out); !s.ok()) return s;
  out->set_name(Vm(in));
  if (out->argv().empty()) {
    return absl::InvalidArgumentError("argv is empty: give the command to run");
  }
  return absl::OkStatus();
}

absl::Status ToRequest(const RequestInput& in, lpb::StreamVmLogsRequest* out) {
  out->set_name(Vm(in));
  out->set_follow(BoolQuery(in.target, "follow"));
  int64_t n = 0;
  std::string tail = Query(in.target, "tail_lines");
  if (!tail.empty() && !absl::SimpleAtoi(tail, &n)) {
    return absl::InvalidArgumentError("tail_lines must be an integer");
  }
  out->set_tail_lines(static_cast<int32_t>(n));
  int64_t after = 0;
  if (absl::SimpleAtoi(in.req.Header("last-event-id"), &after)) out->set_after_sequence(after);
  return absl::OkStatus();
}

absl::Status ToRequest(const RequestInput& in, lpb::ListImagesRequest* out) {
  return ListQuery(in.target, out);
}

absl::Status ToRequest(const RequestInput& in, lpb::ImportImageRequest* out) {
  return FromJson(in.req.body, out);
}

// ?NAME as an RFC 3339 time a google.protobuf.Timestamp can hold (years
// 1-9999), or `def` when absent.
absl::StatusOr<int64_t> TimeQuery(const http::Target& t, const std::string& name, absl::Time def) {
  std::string q = Query(t, name), err;
  absl::Time v = def;
  if (!q.empty() && !absl::ParseTime(absl::RFC3339_full, q, &v, &err)) {
    return absl::InvalidArgumentError(absl::StrCat(name, " must be RFC 3339: ", err));
  }
  constexpr int64_t kMin = -62'135'596'800, kMax = 253'402'300'799;  // 0001-01-01, 9999-12-31
  int64_t seconds = absl::ToUnixSeconds(v);
  if (seconds < kMin || seconds > kMax) {
    return absl::InvalidArgumentError(absl::StrCat(name, " must be within the years 1 to 9999"));
  }
  return seconds;
}

// The last 30 days unless start_time/end_time (RFC 3339) say otherwise.
absl::Status ToRequest(const RequestInput& in, ppb::QueryUsageRequest* out) {
  out->set_subject(Agent(in));
  auto begin = TimeQuery(in.target, "start_time", in.now - absl::Hours(24 * 30));
  if (!begin.ok()) return begin.status();
  auto end = TimeQuery(in.target, "end_time", in.now);
  if (!end.ok()) return end.status();
  out->mutable_start_time()->set_seconds(*begin);
  out->mutable_end_time()->set_seconds(*end);
  return absl::OkStatus();
}

absl::Status ToRequest(const RequestInput& in, ppb::GetLimitRequest* out) {
  out->set_name("limits/" + Agent(in));
  return absl::OkStatus();
}

absl::Status ToRequest(const RequestInput& in, ppb::UpdateLimitRequest* out) {
  auto fields = LimitFields(in.req.body);
  if (!fields.ok()) return fields.status();
  if (auto s = FromJson(in.req.body, out->mutable_limit()); !s.ok()) return s;
  std::string name = "limits/" + Agent(in);
  if (!out->limit().name().empty() && out->limit().name() != name) {
    return absl::InvalidArgumentError(
        absl::StrCat("the body's name \"", out->limit().name(), "\" is not ", name));
  }
  out->mutable_limit()->set_name(name);
  for (const auto& f : *fields) out->mutable_update_mask()->add_paths(f);
  out->set_allow_missing(true);
  return absl::OkStatus();
}

absl::Status ToRequest(const RequestInput& in, ipb::IssueTokenRequest* out) {
  return FromJson(in.req.body, out);
}

absl::Status ToRequest(const RequestInput& in, opb::ListWorkflowsRequest* out) {
  return ListQuery(in.target, out, out->mutable_filter());
}

absl::Status ToRequest(const RequestInput& in, opb::SubmitWorkflowRequest* out) {
  return FromJson(in.req.body, out);
}

absl::Status ToRequest(const RequestInput& in, opb::GetWorkflowRequest* out) {
  out->set_name(Workflow(in));
  return absl::OkStatus();
}

absl::Status ToRequest(const RequestInput& in, opb::CancelWorkflowRequest* out) {
  out->set_name(Workflow(in));
  return absl::OkStatus();
}

absl::Status ToRequest(const RequestInput& in, opb::WatchWorkflowRequest* out) {
  out->set_name(Workflow(in));
  return absl::OkStatus();
}

absl::Status ToRequest(const RequestInput& in, opb::GetStepOutputRequest* out) {
  out->set_workflow(Workflow(in));
  out->set_step(Param(in, "step"));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<int64_t>> EventsAfter(const RequestInput& in) {
  std::string last = in.req.Header("last-event-id");
  if (last.empty()) last = Query(in.target, "after");
  if (last.empty()) return std::optional<int64_t>();
  int64_t after = 0;
  if (!absl::SimpleAtoi(last, &after)) {
    return absl::InvalidArgumentError("Last-Event-ID must be an event id (an integer)");
  }
  return std::optional<int64_t>(after);
}

}  // namespace clawos::controlplane
