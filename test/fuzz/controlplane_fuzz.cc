// libFuzzer target for the control plane's reading of a REST call, as
// controlplane/api.cc runs it before any daemon is called: the request
// target (common/http/query.h), the route (controlplane/routes.h), and the
// daemon request made from the route's parameters, the query, the
// Last-Event-ID header and the JSON body (controlplane/requests.h, protobuf's
// JSON mapping); errors as the API answers them (controlplane/errors.h).
//
// Input: byte 0 is ignored (room for modes), then
//   METHOD SP TARGET "\n" *(NAME ": " VALUE "\n") "\n" BODY
// An exception is a crash. Properties checked (abort):
// - a target that does not parse, a refused call: INVALID_ARGUMENT with a
//   valid UTF-8 message, answered 400 with a valid UTF-8 JSON error body
//   {"code": 3, "message": ..., "details": []};
// - a route matched is of that method, its parameters are the pattern's
//   names, each 1-128 of [A-Za-z0-9._-], and put back into the pattern they
//   give the path; when only the method is wrong every method offered in
//   `allow` matches the path;
// - a request made is one the daemon can read: it serialises and parses back
//   equal (its strings are valid UTF-8), its JSON is valid UTF-8 and reads
//   back equal; resource names are the route's parameters under their
//   collection; page sizes are within 0..1000; a limits update names only
//   settable fields.
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/field_comparator.h>
#include <google/protobuf/util/message_differencer.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "common/http/http1.h"
#include "common/proto_json.h"
#include "common/utf8.h"
#include "controlplane/errors.h"
#include "controlplane/requests.h"
#include "controlplane/routes.h"
#include "test/fuzz/require.h"

namespace {

using namespace clawos;
using namespace clawos::controlplane;
using google::protobuf::Message;

using clawos::fuzz::Require;

// A refusal as the API answers it.
void CheckRefusal(const absl::Status& s) {
  Require(s.code() == absl::StatusCode::kInvalidArgument);
  Require(IsValidUtf8(std::string(s.message())));
  Require(HttpStatus(s.code()) == 400);
  std::string body = ErrorBody(s);
  Require(IsValidUtf8(body));
  auto j = nlohmann::json::parse(body, nullptr, false);
  Require(j.is_object() && j["code"] == 3 && j["message"].is_string() && j["details"].is_array() &&
          j["details"].empty());
}

bool ValidParam(const std::string& v) {
  if (v.empty() || v.size() > 128) return false;
  for (char c : v) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

// The pattern with its {names} replaced by the parameters.
std::string Fill(const std::string& pattern, const std::map<std::string, std::string>& params,
                 std::set<std::string>* names) {
  std::string out;
  for (size_t i = 0; i < pattern.size();) {
    if (pattern[i] != '{') {
      out += pattern[i++];
      continue;
    }
    size_t close = pattern.find('}', i);
    std::string name = pattern.substr(i + 1, close - i - 1);
    names->insert(name);
    auto it = params.find(name);
    Require(it != params.end());
    out += it->second;
    i = close + 1;
  }
  return out;
}

void CheckRoute(const std::string& method, const std::string& path) {
  std::vector<std::string> allowed;
  auto m = MatchRoute(method, path, &allowed);
  if (!m) {
    for (const auto& a : allowed) Require(a != method && MatchRoute(a, path).has_value());
    return;
  }
  Require(m->route->method == method);
  std::set<std::string> names;
  Require(Fill(m->route->pattern, m->params, &names) == path);
  Require(names.size() == m->params.size());
  for (const auto& [k, v] : m->params) Require(names.count(k) && ValidParam(v));
}

// What the daemon would get: it reads the bytes and the JSON back the same.
void CheckMessage(const Message& m) {
  google::protobuf::util::DefaultFieldComparator cmp;
  cmp.set_treat_nan_as_equal(true);
  google::protobuf::util::MessageDifferencer diff;
  diff.set_field_comparator(&cmp);
  std::unique_ptr<Message> wire(m.New());
  Require(wire->ParseFromString(m.SerializeAsString()) && diff.Compare(m, *wire));
  std::string json = ToJson(m);
  Require(IsValidUtf8(json));
  std::unique_ptr<Message> back(m.New());
  Require(FromJson(json, back.get()).ok() && diff.Compare(m, *back));
}

template <typename Req>
void Check(const RequestInput& in, const std::function<void(const Req&)>& extra = nullptr) {
  Req req;
  absl::Status s = ToRequest(in, &req);
  if (!s.ok()) return CheckRefusal(s);
  CheckMessage(req);
  if (extra) extra(req);
}

std::string P(const RequestInput& in, const std::string& name) { return in.match.params.at(name); }

void CheckPageSize(int32_t size) { Require(size >= 0 && size <= 1000); }

void CheckLimits(const RequestInput& in, const ppb::UpdateLimitRequest& r) {
  static const std::set<std::string> kSettable = {"requests_per_minute", "tokens_per_minute",
                                                  "budget_tokens", "budget_micro_usd",
                                                  "budget_window"};
  Require(r.limit().name() == "limits/agents/" + P(in, "id") && r.allow_missing());
  Require(r.update_mask().paths_size() > 0);
  for (const auto& p : r.update_mask().paths()) Require(kSettable.count(p) == 1);
}

void CheckOp(Op op, const RequestInput& in) {
  auto vm = [&](const std::string& name) { Require(name == "vms/" + P(in, "name")); };
  auto wf = [&](const std::string& name) { Require(name == "workflows/" + P(in, "workflow")); };
  switch (op) {
    case Op::kListVms:
      return Check<lpb::ListVmsRequest>(in, [](const auto& r) { CheckPageSize(r.page_size()); });
    case Op::kCreateVm:
      return Check<lpb::CreateVmRequest>(in);
    case Op::kGetVm:
      return Check<lpb::GetVmRequest>(in, [&](const auto& r) { vm(r.name()); });
    case Op::kDeleteVm:
      return Check<lpb::DeleteVmRequest>(in, [&](const auto& r) { vm(r.name()); });
    case Op::kStartVm:
      return Check<lpb::StartVmRequest>(in, [&](const auto& r) { vm(r.name()); });
    case Op::kStopVm:
      return Check<lpb::StopVmRequest>(in, [&](const auto& r) { vm(r.name()); });
    case Op::kExecVm:
      return Check<lpb::ExecVmRequest>(in, [&](const auto& r) {
        vm(r.name());
        Require(r.argv_size() > 0);
      });
    case Op::kVmLogs:
      return Check<lpb::StreamVmLogsRequest>(in, [&](const auto& r) { vm(r.name()); });
    case Op::kListImages:
      return Check<lpb::ListImagesRequest>(in, [](const auto& r) { CheckPageSize(r.page_size()); });
    case Op::kImportImage:
      return Check<lpb::ImportImageRequest>(in);
    case Op::kGetUsage:
      return Check<ppb::QueryUsageRequest>(
          in, [&](const auto& r) { Require(r.subject() == "agents/" + P(in, "id")); });
    case Op::kGetLimits:
      return Check<ppb::GetLimitRequest>(
          in, [&](const auto& r) { Require(r.name() == "limits/agents/" + P(in, "id")); });
    case Op::kPutLimits:
      return Check<ppb::UpdateLimitRequest>(in, [&](const auto& r) { CheckLimits(in, r); });
    case Op::kCreateToken:
      return Check<ipb::IssueTokenRequest>(in);
    case Op::kListWorkflows:
      return Check<opb::ListWorkflowsRequest>(in,
                                              [](const auto& r) { CheckPageSize(r.page_size()); });
    case Op::kSubmitWorkflow:
      return Check<opb::SubmitWorkflowRequest>(in);
    case Op::kGetWorkflow:
      return Check<opb::GetWorkflowRequest>(in, [&](const auto& r) { wf(r.name()); });
    case Op::kCancelWorkflow:
      return Check<opb::CancelWorkflowRequest>(in, [&](const auto& r) { wf(r.name()); });
    case Op::kWorkflowEvents:
      return Check<opb::WatchWorkflowRequest>(in, [&](const auto& r) { wf(r.name()); });
    case Op::kStepOutput:
      return Check<opb::GetStepOutputRequest>(in, [&](const auto& r) {
        wf(r.workflow());
        Require(r.step() == P(in, "step"));
      });
    case Op::kEvents: {
      auto after = EventsAfter(in);
      if (!after.ok()) CheckRefusal(after.status());
      return;
    }
    case Op::kHealthz:
    case Op::kReadyz:
    case Op::kMetrics:
    case Op::kOpenApi:
      return;  // no request of a daemon
  }
}

void Run(const http::Request& req) {
  auto target = http::ParseTarget(req.target);
  if (!target.ok()) return CheckRefusal(target.status());
  CheckRoute(req.method, target->path);
  auto m = MatchRoute(req.method, target->path);
  if (!m) return;
  RequestInput in{req, *target, *m, absl::FromUnixSeconds(1'800'000'000)};
  CheckOp(m->route->op, in);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);  // no log line per string that is not UTF-8
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  http::Request req;
  size_t nl = rest.find('\n');
  std::string line = rest.substr(0, nl);
  size_t sp = line.find(' ');
  if (sp == std::string::npos) return 0;
  req.method = line.substr(0, sp);
  req.target = line.substr(sp + 1);
  std::string_view tail(rest);
  tail.remove_prefix(nl == std::string::npos ? tail.size() : nl + 1);
  while (!tail.empty()) {
    size_t end = tail.find('\n');
    std::string_view h = tail.substr(0, end);
    tail.remove_prefix(end == std::string_view::npos ? tail.size() : end + 1);
    if (h.empty()) break;
    size_t colon = h.find(':');
    if (colon == std::string_view::npos) continue;
    req.headers.emplace_back(
        std::string(h.substr(0, colon)),
        std::string(absl::StripAsciiWhitespace(std::string(h.substr(colon + 1)))));
  }
  req.body = std::string(tail);
  Run(req);
  return 0;
}
