// libFuzzer target for the control plane's reading of a REST call, as
// controlplane/api.cc runs it before any daemon is called: the request
// target (common/http/query.h), the route among the bindings the protos
// declare (common/rest/binding.h), and the method's request made from the
// path's values, the query, the Last-Event-ID header and the JSON body
// (common/rest/transcode.h, protobuf's JSON mapping); errors as the API
// answers them (controlplane/errors.h).
//
// Input: byte 0 is ignored (room for modes), then
//   METHOD SP TARGET "\n" *(NAME ": " VALUE "\n") "\n" BODY
// An exception is a crash. Properties checked (abort):
// - a target that does not parse, a refused call: INVALID_ARGUMENT with a
//   valid UTF-8 message, answered 400 with a valid UTF-8 JSON error body
//   {"code": 3, "message": ..., "details": []};
// - a route matched is of that method; each value of its path is made of
//   segments of 1-128 of [A-Za-z0-9._-] and, put back into the template
//   (the CLI's way), gives the path; when only the method is wrong every
//   method offered in `allow` matches the path;
// - a request made is one the daemon can read: it serialises and parses
//   back equal (its strings are valid UTF-8), its JSON is valid UTF-8 and
//   reads back equal; the fields the path binds hold the path's values; and
//   the CLI's mapping of that request gives the same path back.
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
#include "clawos/identity/v1/identity.pb.h"
#include "clawos/launcher/v1/launcher.pb.h"
#include "clawos/orchestrator/v1/orchestrator.pb.h"
#include "clawos/proxy/v1/proxy_admin.pb.h"
#include "common/http/http1.h"
#include "common/http/query.h"
#include "common/http/server.h"
#include "common/proto_json.h"
#include "common/rest/binding.h"
#include "common/rest/transcode.h"
#include "common/utf8.h"
#include "controlplane/errors.h"
#include "test/fuzz/require.h"

namespace {

using namespace clawos;
using namespace clawos::controlplane;  // NOLINT
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

// The REST services, from the generated pool (messages only: no gRPC here).
const rest::RouteTable& Routes() {
  static const rest::RouteTable* routes = [] {
    // Referencing a message links its file, and with it its services.
    (void)launcher::v1::Vm::descriptor();
    (void)identity::v1::IssueTokenRequest::descriptor();
    (void)orchestrator::v1::Workflow::descriptor();
    (void)proxy::v1::Limit::descriptor();
    const auto* pool = google::protobuf::DescriptorPool::generated_pool();
    std::vector<const google::protobuf::ServiceDescriptor*> services;
    for (const char* name :
         {"clawos.launcher.v1.LauncherService", "clawos.identity.v1.IdentityService",
          "clawos.orchestrator.v1.OrchestratorService", "clawos.proxy.v1.ProxyAdminService"}) {
      const auto* s = pool->FindServiceByName(name);
      Require(s != nullptr);
      services.push_back(s);
    }
    auto b = rest::BindingsOf(services);
    Require(b.ok());
    return new rest::RouteTable(*std::move(b));
  }();
  return *routes;
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

std::unique_ptr<Message> NewRequest(const google::protobuf::Descriptor* d) {
  return std::unique_ptr<Message>(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(d)->New());
}

void Run(const http::Request& req) {
  auto target = http::ParseTarget(req.target);
  if (!target.ok()) return CheckRefusal(target.status());
  std::vector<std::string> allowed;
  auto m = Routes().Find(req.method, target->path, &allowed);
  if (!m) {
    for (const auto& a : allowed) Require(a != req.method && Routes().Find(a, target->path));
    return;
  }
  const rest::Binding& b = *m->binding;
  Require(b.verb == req.method);
  for (const auto& [field, value] : m->values) {
    for (absl::string_view seg : absl::StrSplit(value, '/')) Require(rest::ValidPathValue(seg));
  }
  auto again = b.path.Expand(m->values);
  Require(again.ok() && *again == target->path);
  auto msg = NewRequest(b.method->input_type());
  absl::Status s = rest::RequestFromHttp(
      b, m->values, {req.body, &target->params, req.Header("last-event-id")}, msg.get());
  if (!s.ok()) return CheckRefusal(s);
  CheckMessage(*msg);
  // The CLI's side gives the same path for this request.
  auto call = rest::RequestToHttp(b, *msg);
  Require(call.ok() && call->path == target->path && call->verb == req.method);
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
