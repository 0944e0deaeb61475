#include "monitor/monitor_service.h"

#include "absl/strings/str_cat.h"
#include "common/grpc_server.h"
#include "common/grpc_status.h"
#include "common/grpc_util.h"
#include "common/request_id.h"

namespace clawos::monitor {
namespace {

grpc::Status Err(const absl::Status& s) { return ToGrpcStatus(s); }

}  // namespace

grpc::Status MonitorService::CreateTarget(Ctx* ctx, const v1::CreateTargetRequest* req,
                                          v1::Target* resp) {
  auto t = m_.CreateTarget(*req);
  if (!t.ok()) return Err(t.status());
  *resp = *t;
  return grpc::Status::OK;
}

grpc::Status MonitorService::GetTarget(Ctx* ctx, const v1::GetTargetRequest* req,
                                       v1::Target* resp) {
  auto t = m_.GetTarget(req->name());
  if (!t.ok()) return Err(t.status());
  *resp = *t;
  return grpc::Status::OK;
}

grpc::Status MonitorService::ListTargets(Ctx* ctx, const v1::ListTargetsRequest* req,
                                         v1::ListTargetsResponse* resp) {
  auto size = PageSize(req->page_size());
  if (!size.ok()) return Err(size.status());
  std::string after;
  if (!req->page_token().empty()) {
    auto a = DecodePageToken(req->page_token());
    if (!a.ok()) return Err(a.status());
    after = *a;
  }
  for (auto& t : m_.ListTargets()) {  // ordered by name
    if (!after.empty() && t.name() <= after) continue;
    if (resp->targets_size() == *size) {
      resp->set_next_page_token(EncodePageToken(resp->targets(*size - 1).name()));
      break;
    }
    *resp->add_targets() = std::move(t);
  }
  return grpc::Status::OK;
}

grpc::Status MonitorService::DeleteTarget(Ctx* ctx, const v1::DeleteTargetRequest* req,
                                          google::protobuf::Empty*) {
  return Err(m_.DeleteTarget(req->name()));
}

grpc::Status MonitorService::StreamEvents(Ctx* ctx, const v1::StreamEventsRequest* req,
                                          grpc::ServerWriter<v1::Event>* writer) {
  return Err(m_.Watch(
      req->filter(), [&](const v1::Event& e) { return writer->Write(e); },
      [&] { return ctx->IsCancelled(); }));
}

grpc::Status MonitorService::GetStats(Ctx* ctx, const v1::GetStatsRequest* req, v1::Stats* resp) {
  auto s = m_.GetStats({req->targets().begin(), req->targets().end()});
  if (!s.ok()) return Err(s.status());
  *resp = *s;
  return grpc::Status::OK;
}

grpc::Status MonitorService::ListSinks(Ctx* ctx, const v1::ListSinksRequest*,
                                       v1::ListSinksResponse* resp) {
  for (auto& s : m_.Sinks()) *resp->add_sinks() = std::move(s);
  return grpc::Status::OK;
}

grpc::Status MonitorService::ReportLlmRequest(Ctx* ctx, const v1::ReportLlmRequestRequest* req,
                                              google::protobuf::Empty*) {
  if (req->phase() == v1::ReportLlmRequestRequest::PHASE_UNSPECIFIED) {
    return Err(absl::InvalidArgumentError("phase: BEGIN or END"));
  }
  return Err(m_.ReportLlmRequest(req->vm(), req->request_id(),
                                 req->phase() == v1::ReportLlmRequestRequest::BEGIN));
}

}  // namespace clawos::monitor
