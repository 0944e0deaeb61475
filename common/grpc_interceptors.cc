#include "common/grpc_interceptors.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <grpcpp/impl/rpc_service_method.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/method_handler.h>

#include <chrono>
#include <deque>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "clawos/api/v1/options.pb.h"
#include "common/grpc_server.h"
#include "common/grpc_util.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/request_id.h"

namespace clawos {
namespace {

namespace gi = grpc::internal;
namespace gx = grpc::experimental;

const google::protobuf::MethodDescriptor* FindMethod(const std::string& path) {
  // "/pkg.Service/Method" → "pkg.Service.Method"
  if (path.size() < 4 || path[0] != '/') return nullptr;
  std::string dotted = path.substr(1);
  size_t slash = dotted.find('/');
  if (slash == std::string::npos) return nullptr;
  dotted[slash] = '.';
  return google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(dotted);
}

MethodPolicy PolicyOfMethod(const google::protobuf::MethodDescriptor* m) {
  MethodPolicy p;
  if (!m) return p;
  const auto& o = m->options();
  p.trusted_transport_only = o.GetExtension(api::v1::trusted_transport_only);
  p.audited = o.GetExtension(api::v1::access) == api::v1::ADMIN;
  return p;
}

// grpc::Service keeps its handlers protected; a derived class may name the
// accessor and call it on any Service.
class HandlerAccess : public grpc::Service {
 public:
  static gi::MethodHandler* Of(grpc::Service* s, int index) {
    return (s->*(&HandlerAccess::GetHandler))(index);
  }
};

// Runs `inner` with the request id set, after the trusted-transport check.
class GuardHandler : public gi::MethodHandler {
 public:
  GuardHandler(gi::MethodHandler* inner, std::string method_name, bool trusted_only)
      : inner_(inner), method_name_(std::move(method_name)), trusted_only_(trusted_only) {}

  void RunHandler(const HandlerParameter& p) override {
    auto* ctx = static_cast<grpc::ServerContext*>(p.server_context);
    ScopedRequestId rid(ctx);
    if (p.status.ok() && trusted_only_ && !IsTrustedPeer(*ctx)) {
      // The request was parsed into the call's arena; the generated
      // handlers hand it over as their BaseRequestType, a protobuf message.
      if (p.request) static_cast<google::protobuf::MessageLite*>(p.request)->~MessageLite();
      gi::ErrorMethodHandler<grpc::StatusCode::PERMISSION_DENIED> deny(
          UntrustedDenied(method_name_).error_message());
      deny.RunHandler(p);
      return;
    }
    inner_->RunHandler(p);
  }

  void* Deserialize(grpc_call* call, grpc_byte_buffer* req, grpc::Status* status,
                    void** handler_data) override {
    return inner_->Deserialize(call, req, status, handler_data);
  }

 private:
  gi::MethodHandler* inner_;  // owned by the original service
  std::string method_name_;
  bool trusted_only_;
};

gi::RpcMethod::RpcType TypeOf(const google::protobuf::MethodDescriptor* m) {
  if (m->client_streaming() && m->server_streaming()) return gi::RpcMethod::BIDI_STREAMING;
  if (m->client_streaming()) return gi::RpcMethod::CLIENT_STREAMING;
  if (m->server_streaming()) return gi::RpcMethod::SERVER_STREAMING;
  return gi::RpcMethod::NORMAL_RPC;
}

class GuardedService : public grpc::Service {
 public:
  // Generated services add their methods in the descriptor's order.
  GuardedService(grpc::Service* inner, const google::protobuf::ServiceDescriptor* d) {
    for (int i = 0; i < d->method_count(); ++i) {
      const google::protobuf::MethodDescriptor* m = d->method(i);
      paths_.push_back(absl::StrCat("/", d->full_name(), "/", m->name()));
      auto* guard = new GuardHandler(HandlerAccess::Of(inner, i), m->name(),
                                     PolicyOfMethod(m).trusted_transport_only);
      AddMethod(new gi::RpcServiceMethod(paths_.back().c_str(), TypeOf(m), guard));
    }
  }

 private:
  std::deque<std::string> paths_;  // the methods keep pointers into these
};

class CallInterceptor : public gx::Interceptor {
 public:
  CallInterceptor(Metrics* metrics, gx::ServerRpcInfo* info)
      : metrics_(metrics),
        info_(info),
        policy_(PolicyOf(info->method())),
        start_(std::chrono::steady_clock::now()) {}

  void Intercept(gx::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(gx::InterceptionHookPoints::PRE_SEND_STATUS)) {
      Record(methods->GetSendStatus());
    }
    methods->Proceed();
  }

 private:
  void Record(const grpc::Status& status) {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (metrics_) metrics_->RecordRpc(info_->method(), status.error_code(), secs);
    if (!policy_.audited) return;
    nlohmann::json f = {
        {"method", info_->method()},
        {"peer", info_->server_context()->peer()},
        {"code", absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code()))},
        {"ms", static_cast<int64_t>(secs * 1000)}};
    if (!status.ok()) f["error"] = status.error_message();
    log::Info("audit", f);
  }

  Metrics* metrics_;
  gx::ServerRpcInfo* info_;
  MethodPolicy policy_;
  std::chrono::steady_clock::time_point start_;
};

class CallInterceptorFactoryImpl : public gx::ServerInterceptorFactoryInterface {
 public:
  explicit CallInterceptorFactoryImpl(Metrics* m) : metrics_(m) {}
  gx::Interceptor* CreateServerInterceptor(gx::ServerRpcInfo* info) override {
    return new CallInterceptor(metrics_, info);
  }

 private:
  Metrics* metrics_;
};

}  // namespace

MethodPolicy PolicyOf(const std::string& method_path) {
  return PolicyOfMethod(FindMethod(method_path));
}

absl::StatusOr<std::vector<std::unique_ptr<grpc::Service>>> GuardedServices(
    const std::vector<ServedService>& served) {
  std::vector<std::unique_ptr<grpc::Service>> out;
  for (const ServedService& s : served) {
    const auto* d = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(s.name);
    if (!d || !s.service) {
      return absl::InvalidArgumentError(absl::StrCat("no generated service \"", s.name, "\""));
    }
    if (s.service->has_async_methods() || s.service->has_generic_methods() ||
        s.service->has_callback_methods()) {
      return absl::InvalidArgumentError(
          absl::StrCat(s.name, ": only synchronous services can be guarded"));
    }
    out.push_back(std::make_unique<GuardedService>(s.service, d));
  }
  return out;
}

std::unique_ptr<gx::ServerInterceptorFactoryInterface> CallInterceptorFactory(Metrics* metrics) {
  return std::make_unique<CallInterceptorFactoryImpl>(metrics);
}

}  // namespace clawos
