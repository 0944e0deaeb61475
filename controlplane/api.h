// The REST API over the daemons' gRPC, driven by the protos: a request's
// route is the google.api.http rule of a method (common/rest/binding.h);
// the caller's token is checked against the method's (clawos.api.v1.access);
// the request message is made from the path, query and body, sent to the
// daemon that serves the method (any method, through gRPC's generic stub),
// and the answer written back as JSON (protobuf's mapping, proto field
// names), or, for a server stream, as NDJSON or SSE (the method's
// (clawos.api.v1.stream)). Streams are capped per role (stream_slots.h) and
// re-check the caller's token on a timer. Every call to an ADMIN method,
// allowed or refused, is written to the audit log. Beside the methods, four
// built-in routes: /healthz, /readyz, /metrics and /v1/openapi.json.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "absl/time/time.h"
#include "clawos/identity/v1/identity.grpc.pb.h"
#include "clawos/launcher/v1/launcher.grpc.pb.h"
#include "clawos/monitor/v1/monitor.grpc.pb.h"
#include "clawos/orchestrator/v1/orchestrator.grpc.pb.h"
#include "clawos/proxy/v1/proxy_admin.grpc.pb.h"
#include "common/http/server.h"
#include "common/rest/binding.h"
#include "common/rotating_file.h"
#include "controlplane/operator_auth.h"
#include "controlplane/stream_slots.h"

namespace prometheus {
class Registry;
template <typename T>
class Family;
class Counter;
class Histogram;
}  // namespace prometheus

namespace clawos::controlplane {

struct Backends {
  std::unique_ptr<launcher::v1::LauncherService::Stub> launcher;
  std::unique_ptr<identity::v1::IdentityService::Stub> identity;
  std::unique_ptr<proxy::v1::ProxyAdminService::Stub> proxy;
  std::unique_ptr<monitor::v1::MonitorService::Stub> monitor;  // may be null: not configured
  std::unique_ptr<orchestrator::v1::OrchestratorService::Stub> orchestrator;  // may be null too
  // Where each service's methods go, by the service's full name; a service
  // without a channel is "not configured" (503).
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels;
};

struct ApiOptions {
  absl::Duration keepalive = absl::Seconds(15);  // SSE comments while idle
  absl::Duration recheck = absl::Seconds(5);     // streams re-check the caller's token
  StreamLimits streams;                          // caps on open streams
  std::string openapi_json;                      // GET /v1/openapi.json
  std::function<std::string()> metrics_text;     // GET /metrics (Prometheus text)
};

class Api : public http::RequestHandler {
 public:
  // INTERNAL (at start-up, naming the method) when a proto's http rule is
  // malformed.
  static absl::StatusOr<std::unique_ptr<Api>> Create(Backends& backends, OperatorAuth& auth,
                                                     RotatingFile* audit,
                                                     prometheus::Registry* registry,
                                                     ApiOptions options);
  void Handle(const http::Request& request, http::ResponseSink& sink) override;

  // What /readyz checks: each daemon answers. Empty when all do.
  std::vector<std::string> Unready();

  // Cancels the daemon calls of every stream in progress, and of those that
  // start from now on: call before the listener stops, so that streams
  // waiting on a daemon end at once.
  void Shutdown();

  struct Call;  // one request in progress (api_call.h)

 private:
  Api(Backends& backends, OperatorAuth& auth, RotatingFile* audit, prometheus::Registry* registry,
      ApiOptions options, std::vector<rest::Binding> bindings);
  // A stream's daemon call, cancellable by Shutdown() while it lasts.
  struct ActiveCall {
    ActiveCall(Api& api, grpc::ClientContext* ctx);
    ~ActiveCall();
    Api& api;
    grpc::ClientContext* ctx;
  };
  // /healthz, /readyz, /metrics, /v1/openapi.json: true when `path` is one.
  bool BuiltIn(Call& call, const std::string& path);
  // The caller's token still holds (streams re-check it as they go).
  bool StillAllowed(const Call& call);
  // A place for a stream, or false after answering 429 (a cap is reached).
  bool TakeSlot(Call& call, StreamSlots::Slot* slot);
  // The method's request from the call, or false after answering 400.
  bool MakeRequest(Call& call, google::protobuf::Message* req);
  // The channel of the method's daemon, or null after answering 503.
  std::shared_ptr<grpc::Channel> ChannelFor(Call& call);
  void Serve(Call& call);
  void ServeUnary(Call& call);
  void ServeUpload(Call& call);
  void ServeStream(Call& call);  // streams.cc
  void Audit(const Call& call, int status);

  Backends& b_;
  OperatorAuth& auth_;
  RotatingFile* audit_;
  ApiOptions options_;
  rest::RouteTable routes_;
  StreamSlots slots_;
  prometheus::Family<prometheus::Counter>* requests_ = nullptr;
  prometheus::Family<prometheus::Histogram>* latency_ = nullptr;
  std::mutex active_mu_;
  std::set<grpc::ClientContext*> active_;
  bool shutting_down_ = false;
};

}  // namespace clawos::controlplane
