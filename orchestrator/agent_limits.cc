#include "orchestrator/agent_limits.h"

#include "clawos/proxy/v1/proxy_admin.grpc.pb.h"
#include "common/grpc_client.h"
#include "common/grpc_util.h"
#include "common/status.h"

namespace clawos::orchestrator {
namespace {

namespace ppb = ::clawos::proxy::v1;

class ProxyLimitSetter : public LimitSetter {
 public:
  explicit ProxyLimitSetter(std::shared_ptr<grpc::Channel> ch)
      : stub_(ppb::ProxyAdminService::NewStub(ch)) {}

  absl::Status Set(const std::string& subject, const AgentLimits& l) override {
    ppb::UpdateLimitRequest req;
    auto* limit = req.mutable_limit();
    limit->set_name("limits/" + subject);
    auto* mask = req.mutable_update_mask();
    if (l.requests_per_minute) limit->set_requests_per_minute(*l.requests_per_minute);
    if (l.tokens_per_minute) limit->set_tokens_per_minute(*l.tokens_per_minute);
    if (l.budget_tokens) {
      limit->set_budget_tokens(*l.budget_tokens);
      *limit->mutable_budget_window() = ToProtoDuration(l.budget_window);
      mask->add_paths("budget_window");
    }
    for (const char* p : {"requests_per_minute", "tokens_per_minute", "budget_tokens"})
      mask->add_paths(p);
    req.set_allow_missing(true);
    ppb::Limit out;
    return Annotate(CallStub(*stub_, &ppb::ProxyAdminService::Stub::UpdateLimit, req, &out),
                    "setting the proxy's limits for " + subject);
  }

  absl::Status Remove(const std::string& subject) override {
    ppb::DeleteLimitRequest req;
    req.set_name("limits/" + subject);
    google::protobuf::Empty out;
    absl::Status s = CallStub(*stub_, &ppb::ProxyAdminService::Stub::DeleteLimit, req, &out);
    return absl::IsNotFound(s) ? absl::OkStatus() : s;
  }

 private:
  std::unique_ptr<ppb::ProxyAdminService::Stub> stub_;
};

}  // namespace

std::unique_ptr<LimitSetter> MakeProxyLimitSetter(std::shared_ptr<grpc::Channel> proxy_admin) {
  return std::make_unique<ProxyLimitSetter>(std::move(proxy_admin));
}

}  // namespace clawos::orchestrator
