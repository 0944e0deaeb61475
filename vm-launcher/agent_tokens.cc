#include "vm-launcher/agent_tokens.h"

#include "absl/time/clock.h"
#include "clawos/identity/v1/identity.grpc.pb.h"
#include "common/grpc_client.h"
#include "common/grpc_status.h"
#include "common/grpc_util.h"

namespace clawos::launcher {

namespace ipb = ::clawos::identity::v1;

absl::StatusOr<std::string> AgentTokens::Get(const std::string& vm, const std::string& model) {
  std::lock_guard lock(mu_);
  absl::Time now = absl::Now();
  if (auto it = cache_.find(vm); it != cache_.end()) {
    const Cached& c = it->second;
    if (c.model == model && now < c.expires - (c.expires - c.issued) / 3) return c.token;
  }
  auto ch = MakeChannel(addr_, {});
  if (!ch.ok()) return ch.status();
  auto stub = ipb::IdentityService::NewStub(*ch);
  ipb::IssueTokenRequest req;
  req.set_subject("agents/" + vm);
  req.set_audience(kInferenceAudience);
  *req.mutable_ttl() = ToProtoDuration(ttl_);
  req.set_model(model);
  ipb::IssueTokenResponse resp;
  auto ctx = MakeClientContext(absl::Seconds(10));
  grpc::Status s = stub->IssueToken(ctx.get(), req, &resp);
  if (!s.ok()) return FromGrpcStatus(s);
  cache_[vm] = {resp.token(), model, now, FromProtoTime(resp.expire_time())};
  return resp.token();
}

void AgentTokens::Revoke(const std::string& vm) {
  std::lock_guard lock(mu_);
  cache_.erase(vm);
  auto ch = MakeChannel(addr_, {});
  if (!ch.ok()) return;
  auto stub = ipb::IdentityService::NewStub(*ch);
  ipb::CreateRevocationRequest req;
  req.set_subject("agents/" + vm);
  req.set_reason("VM deleted");
  ipb::Revocation resp;
  auto ctx = MakeClientContext(absl::Seconds(5));
  stub->CreateRevocation(ctx.get(), req, &resp);
}

}  // namespace clawos::launcher
