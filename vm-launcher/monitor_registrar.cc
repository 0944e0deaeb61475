#include "vm-launcher/monitor_registrar.h"

#include "absl/strings/str_cat.h"
#include "clawos/monitor/v1/monitor.grpc.pb.h"
#include "common/grpc_client.h"
#include "common/grpc_status.h"
#include "common/log.h"

namespace clawos::launcher {
namespace {

namespace mpb = ::clawos::monitor::v1;

grpc::Status Delete(mpb::MonitorService::Stub& stub, const std::string& vm) {
  mpb::DeleteTargetRequest req;
  req.set_name("targets/" + vm);
  google::protobuf::Empty empty;
  auto ctx = MakeClientContext();
  return stub.DeleteTarget(ctx.get(), req, &empty);
}

}  // namespace

absl::Status MonitorRegistrar::Register(const std::string& vm, const std::string& cgroup_path,
                                        uint64_t cgroup_id) {
  auto ch = MakeChannel(addr_, {});
  if (!ch.ok()) return ch.status();
  auto stub = mpb::MonitorService::NewStub(*ch);
  grpc::Status d = Delete(*stub, vm);
  if (!d.ok() && d.error_code() != grpc::StatusCode::NOT_FOUND) {
    return absl::UnavailableError(
        absl::StrCat("clawos-monitor at ", addr_, ": ", FromGrpcStatus(d).message()));
  }
  mpb::CreateTargetRequest req;
  req.set_target_id(vm);
  req.set_vm("vms/" + vm);
  req.set_agent_subject("agents/" + vm);
  req.set_cgroup_path(cgroup_path);
  req.set_cgroup_id(cgroup_id);
  mpb::Target t;
  auto ctx = MakeClientContext();
  grpc::Status s = stub->CreateTarget(ctx.get(), req, &t);
  if (!s.ok()) {
    return absl::UnavailableError(
        absl::StrCat("clawos-monitor refused to watch ", vm, ": ", FromGrpcStatus(s).message()));
  }
  return absl::OkStatus();
}

void MonitorRegistrar::Unregister(const std::string& vm) {
  auto ch = MakeChannel(addr_, {});
  if (!ch.ok()) return;
  auto stub = mpb::MonitorService::NewStub(*ch);
  grpc::Status s = Delete(*stub, vm);
  if (!s.ok() && s.error_code() != grpc::StatusCode::NOT_FOUND) {
    log::Warn("monitor target not deleted", {{"vm", vm}, {"error", s.error_message()}});
  }
}

}  // namespace clawos::launcher
