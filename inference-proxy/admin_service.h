// clawos.proxy.v1.ProxyAdminService: per-agent limits (persisted in
// LimitStore, applied to the Limiter at once), usage totals from the ledger,
// audit records. Every method needs the trusted transport.
#pragma once

#include "clawos/proxy/v1/proxy_admin.grpc.pb.h"
#include "inference-proxy/ledger.h"
#include "inference-proxy/limit_store.h"
#include "inference-proxy/limiter.h"

namespace clawos::proxy {

namespace ppb = ::clawos::proxy::v1;

class ProxyAdminService final : public ppb::ProxyAdminService::Service {
 public:
  ProxyAdminService(Limiter& limiter, LimitStore& store, Ledger& ledger)
      : limiter_(limiter), store_(store), ledger_(ledger) {}
  using Ctx = grpc::ServerContext;
  grpc::Status GetLimit(Ctx*, const ppb::GetLimitRequest*, ppb::Limit*) override;
  grpc::Status ListLimits(Ctx*, const ppb::ListLimitsRequest*, ppb::ListLimitsResponse*) override;
  grpc::Status UpdateLimit(Ctx*, const ppb::UpdateLimitRequest*, ppb::Limit*) override;
  grpc::Status DeleteLimit(Ctx*, const ppb::DeleteLimitRequest*, google::protobuf::Empty*) override;
  grpc::Status QueryUsage(Ctx*, const ppb::QueryUsageRequest*, ppb::QueryUsageResponse*) override;
  grpc::Status ListAuditRecords(Ctx*, const ppb::ListAuditRecordsRequest*,
                                ppb::ListAuditRecordsResponse*) override;

 private:
  void Fill(const std::string& subject, const LimitOverride* own, ppb::Limit* out);
  Limiter& limiter_;
  LimitStore& store_;
  Ledger& ledger_;
  std::mutex mu_;  // serialises updates (read-modify-write of an override)
};

}  // namespace clawos::proxy
