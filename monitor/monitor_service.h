// gRPC glue for clawos.monitor.v1.MonitorService: validate, call Monitor,
// map the status. [trusted] methods need the unix socket or mTLS.
#pragma once

#include "clawos/monitor/v1/monitor.grpc.pb.h"
#include "monitor/monitor.h"

namespace clawos::monitor {

class MonitorService final : public ::clawos::monitor::v1::MonitorService::Service {
 public:
  explicit MonitorService(Monitor& m) : m_(m) {}
  using Ctx = grpc::ServerContext;
  grpc::Status CreateTarget(Ctx* ctx, const v1::CreateTargetRequest* req,
                            v1::Target* resp) override;
  grpc::Status GetTarget(Ctx* ctx, const v1::GetTargetRequest* req, v1::Target* resp) override;
  grpc::Status ListTargets(Ctx* ctx, const v1::ListTargetsRequest* req,
                           v1::ListTargetsResponse* resp) override;
  grpc::Status DeleteTarget(Ctx* ctx, const v1::DeleteTargetRequest* req,
                            google::protobuf::Empty* resp) override;
  grpc::Status StreamEvents(Ctx* ctx, const v1::StreamEventsRequest* req,
                            grpc::ServerWriter<v1::Event>* writer) override;
  grpc::Status GetStats(Ctx* ctx, const v1::GetStatsRequest* req, v1::Stats* resp) override;
  grpc::Status ListSinks(Ctx* ctx, const v1::ListSinksRequest* req,
                         v1::ListSinksResponse* resp) override;
  grpc::Status ReportLlmRequest(Ctx* ctx, const v1::ReportLlmRequestRequest* req,
                                google::protobuf::Empty* resp) override;

 private:
  Monitor& m_;
};

}  // namespace clawos::monitor
