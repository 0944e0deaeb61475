// The CLI's one client of every ClawOS service. A call names a method by
// its descriptor and goes either through the control plane's REST API (the
// method's google.api.http binding, mapped by common/rest/transcode.h: the
// same code the control plane reads it back with) or straight to the
// method's daemon over gRPC (common/grpc_generic.h). Both give the same
// messages and the same statuses, so commands print the same output and exit
// with the same codes either way (--direct picks gRPC).
//
// Deadlines: a unary call waits for its method's `(clawos.api.v1.timeout_seconds)`
// (30 s when unset), the same figure the control plane gives the daemon; a
// REST call waits 15 s more, so the control plane's own answer (a 504 naming
// the daemon) comes first. Streams have no deadline; they end with the
// server or with `cancel`.
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/context.h"
#include "cli/rest_client.h"

namespace clawos::cli {

class ApiClient {
 public:
  using OnMessage = std::function<absl::Status(const google::protobuf::Message&)>;
  // Fills the next request of a client stream; false when there is none.
  using NextMessage = std::function<absl::StatusOr<bool>(google::protobuf::Message*)>;

  virtual ~ApiClient() = default;

  // `timeout` zero: the method's own (see above).
  virtual absl::Status Unary(const google::protobuf::MethodDescriptor* method,
                             const google::protobuf::Message& req, google::protobuf::Message* resp,
                             absl::Duration timeout) = 0;
  // A server stream: each message goes to `on_message` (a non-OK status from
  // it ends the call with that status). `cancel`, when given, can end it
  // from another thread (then CANCELLED).
  virtual absl::Status Stream(const google::protobuf::MethodDescriptor* method,
                              const google::protobuf::Message& req, const OnMessage& on_message,
                              Canceller* cancel = nullptr) = 0;
  // A client stream: the requests `next` gives, then the one response.
  virtual absl::Status Upload(const google::protobuf::MethodDescriptor* method,
                              const NextMessage& next, google::protobuf::Message* resp) = 0;

  // Typed helpers. `method` is the method's full name,
  // "clawos.launcher.v1.LauncherService.GetVm".
  template <typename Resp, typename Req>
  absl::StatusOr<Resp> Call(const std::string& method, const Req& req,
                            absl::Duration timeout = absl::ZeroDuration()) {
    auto m = Find(method);
    if (!m.ok()) return m.status();
    Resp resp;
    if (auto s = Unary(*m, req, &resp, timeout); !s.ok()) return s;
    return resp;
  }
  template <typename Msg, typename Req>
  absl::Status Each(const std::string& method, const Req& req,
                    const std::function<absl::Status(const Msg&)>& on_message,
                    Canceller* cancel = nullptr) {
    auto m = Find(method);
    if (!m.ok()) return m.status();
    return Stream(
        *m, req,
        [&](const google::protobuf::Message& msg) {
          return on_message(static_cast<const Msg&>(msg));
        },
        cancel);
  }
  template <typename Resp, typename Req>
  absl::StatusOr<Resp> Send(const std::string& method,
                            const std::function<absl::StatusOr<bool>(Req*)>& next) {
    auto m = Find(method);
    if (!m.ok()) return m.status();
    Resp resp;
    absl::Status s = Upload(
        *m, [&](google::protobuf::Message* msg) { return next(static_cast<Req*>(msg)); }, &resp);
    if (!s.ok()) return s;
    return resp;
  }

  static absl::StatusOr<const google::protobuf::MethodDescriptor*> Find(
      const std::string& full_name);
  // The method's own deadline (timeout_seconds, else 30 s).
  static absl::Duration DefaultTimeout(const google::protobuf::MethodDescriptor* method);
};

// REST to ctx.url with the operator token (FindToken), or gRPC to the
// daemons when ctx.direct.
absl::StatusOr<std::unique_ptr<ApiClient>> MakeApiClient(const Context& ctx);
// Always gRPC to the daemons (ctx's addresses and TLS): the commands that
// speak to one daemon on its trusted transport (identity, proxy, monitor).
absl::StatusOr<std::unique_ptr<ApiClient>> MakeDirectApiClient(const Context& ctx);

}  // namespace clawos::cli
