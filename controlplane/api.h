// The REST API over the daemons' gRPC: routes → auth → the daemon call →
// JSON (protobuf's mapping, proto field names). Unary calls answer whole;
// exec streams NDJSON; logs and events stream SSE. Streams are capped per
// role (stream_slots.h) and re-check the caller's token on a timer. Every
// call to an admin route, allowed or refused, is written to the audit log.
#pragma once

#include <functional>
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
#include "common/rotating_file.h"
#include "controlplane/event_hub.h"
#include "controlplane/operator_auth.h"
#include "controlplane/routes.h"
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
};

struct ApiOptions {
  absl::Duration call_timeout = absl::Seconds(30);
  absl::Duration start_timeout = absl::Minutes(10);  // :start waits for the agent
  absl::Duration keepalive = absl::Seconds(15);      // SSE comments while idle
  absl::Duration recheck = absl::Seconds(5);         // streams re-check the caller's token
  StreamLimits streams;                              // caps on open streams
  std::string openapi_json;                          // GET /v1/openapi.json
  std::function<std::string()> metrics_text;         // GET /metrics (Prometheus text)
};

class Api : public http::RequestHandler {
 public:
  Api(Backends& backends, OperatorAuth& auth, EventHub& hub, RotatingFile* audit,
      prometheus::Registry* registry, ApiOptions options);
  void Handle(const http::Request& request, http::ResponseSink& sink) override;

  // What /readyz checks: each daemon answers. Empty when all do.
  std::vector<std::string> Unready();

  // Cancels the daemon calls of every stream in progress, and of those that
  // start from now on: call before the listener stops, so that streams
  // waiting on a daemon end at once.
  void Shutdown();

  struct Call;  // one request in progress (api_call.h)

 private:
  // A stream's daemon call, cancellable by Shutdown() while it lasts.
  struct ActiveCall {
    ActiveCall(Api& api, grpc::ClientContext* ctx);
    ~ActiveCall();
    Api& api;
    grpc::ClientContext* ctx;
  };
  // The caller's token still holds (streams re-check it as they go).
  bool StillAllowed(const Call& call);
  // A place for a stream, or false after answering 429 (a cap is reached).
  bool TakeSlot(Call& call, StreamSlots::Slot* slot);
  void Dispatch(Call& call);
  void ExecVm(Call& call);
  void VmLogs(Call& call);
  void Events(Call& call);
  void WorkflowEvents(Call& call);
  // A daemon's server stream as SSE: `retry:`, one event per message,
  // keep-alives that re-check the caller's token, an error event if the
  // stream fails. With `first_decides` (a stream that answers at once) the
  // first message is read before the answer starts: a stream that fails
  // before it (an unknown name) is a plain error answer, not an event.
  template <typename Msg>
  void StreamSse(
      Call& call,
      const std::function<std::unique_ptr<grpc::ClientReader<Msg>>(grpc::ClientContext*)>& open,
      const std::function<std::string(const Msg&)>& event, bool first_decides = false);
  void Audit(const Call& call, int status);

  Backends& b_;
  OperatorAuth& auth_;
  EventHub& hub_;
  RotatingFile* audit_;
  ApiOptions options_;
  StreamSlots slots_;
  prometheus::Family<prometheus::Counter>* requests_ = nullptr;
  prometheus::Family<prometheus::Histogram>* latency_ = nullptr;
  std::mutex active_mu_;
  std::set<grpc::ClientContext*> active_;
  bool shutting_down_ = false;
};

}  // namespace clawos::controlplane
