// One REST request in progress: its parsed target, the method it is bound
// to and the caller, and the ways to answer it (JSON, an error in the API's
// shape, a stream).
#pragma once

#include <google/protobuf/message.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "common/http/query.h"
#include "common/http/server.h"
#include "common/proto_json.h"
#include "controlplane/api.h"
#include "controlplane/errors.h"

namespace clawos::controlplane {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Api::Call {
  Call(const http::Request& r, http::ResponseSink& s, std::string id)
      : req(r), sink(s), request_id(std::move(id)) {}

  const http::Request& req;
  http::ResponseSink& sink;
  std::string request_id;
  http::Target target;
  rest::RouteTable::Match match;    // binding is null for the built-in routes
  std::string route = "unmatched";  // the route's OpenAPI path (metrics, audit)
  Access access = Access::kPublic;
  Caller caller;
  int status = 0;  // what was answered

  const rest::Binding& binding() const { return *match.binding; }
  // What the caller may see of answers (visible_to).
  api::v1::Access visible() const {
    return caller.admin()           ? api::v1::ADMIN
           : caller.subject.empty() ? api::v1::PUBLIC
                                    : api::v1::VIEWER;
  }

  Headers BaseHeaders(const std::string& type) const {
    return {{"content-type", type},
            {"x-request-id", request_id},
            {"cache-control", "no-store"},
            {"x-content-type-options", "nosniff"}};
  }
  void ReplyText(int code, const std::string& body, const std::string& type,
                 const Headers& extra = {}) {
    status = code;
    Headers h = BaseHeaders(type);
    h.insert(h.end(), extra.begin(), extra.end());
    if (sink.Head(code, h, false)) {
      sink.Body(body);
      sink.End();
    }
  }
  void ReplyJson(int code, const std::string& body) { ReplyText(code, body, "application/json"); }
  void ErrorWithStatus(int code, const absl::Status& s, const Headers& extra = {}) {
    ReplyText(code, ErrorBody(s), "application/json", extra);
  }
  void Error(const absl::Status& s) { ErrorWithStatus(HttpStatus(s.code()), s); }
  // Starts a streamed answer (chunked).
  bool StartStream(const std::string& type) {
    status = 200;
    return sink.Head(200, BaseHeaders(type), true);
  }
};

}  // namespace clawos::controlplane
