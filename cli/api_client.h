// The CLI's one client of every ClawOS service. A call names a method by
// its descriptor and goes either through the control plane's REST API (the
// method's google.api.http binding, mapped as common/rest/transcode.h maps
// it: the same code the control plane reads it back with) or straight to the
// method's daemon over gRPC (common/grpc_generic.h). Both give the same
// messages and the same statuses, so commands print the same output and exit
// codes either way (--direct picks gRPC).
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/rest_client.h"
#include "common/rest/binding.h"

namespace grpc {
class Channel;
}

namespace clawos::cli {

class ApiClient {
 public:
  virtual ~ApiClient() = default;

  virtual absl::Status Unary(const google::protobuf::MethodDescriptor* method,
                             const google::protobuf::Message& req, google::protobuf::Message* resp,
                             absl::Duration timeout) = 0;
  // A server stream: each message goes to `on_message` (a non-OK status from
  // it ends the call with that status). `cancel`, when given, can end it
  // from another thread (then CANCELLED).
  virtual absl::Status Stream(
      const google::protobuf::MethodDescriptor* method, const google::protobuf::Message& req,
      const std::function<absl::Status(const google::protobuf::Message&)>& on_message,
      Canceller* cancel = nullptr) = 0;

  // Typed helpers: `method` is the method's name in the request's service,
  // found through the generated pool ("clawos.launcher.v1.LauncherService.GetVm").
  template <typename Resp, typename Req>
  absl::StatusOr<Resp> Call(const std::string& method, const Req& req,
                            absl::Duration timeout = absl::Seconds(30)) {
    const auto* m = FindMethod(method);
    if (!m) return absl::InternalError("no method " + method);
    Resp resp;
    if (auto s = Unary(m, req, &resp, timeout); !s.ok()) return s;
    return resp;
  }
  template <typename Msg, typename Req>
  absl::Status Each(const std::string& method, const Req& req,
                    const std::function<absl::Status(const Msg&)>& on_message,
                    Canceller* cancel = nullptr) {
    const auto* m = FindMethod(method);
    if (!m) return absl::InternalError("no method " + method);
    return Stream(
        m, req,
        [&](const google::protobuf::Message& msg) {
          return on_message(static_cast<const Msg&>(msg));
        },
        cancel);
  }

  static const google::protobuf::MethodDescriptor* FindMethod(const std::string& full_name);
};

// Through the control plane: `bindings` are the REST services' bindings.
std::unique_ptr<ApiClient> MakeRestApiClient(std::unique_ptr<RestClient> rest,
                                             std::vector<rest::Binding> bindings);
// Straight to the daemons: the channel of each service, by its full name.
std::unique_ptr<ApiClient> MakeGrpcApiClient(
    std::map<std::string, std::shared_ptr<grpc::Channel>> channels);

}  // namespace clawos::cli
