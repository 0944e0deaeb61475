#include "common/rest/services.h"

#include <map>

#include "clawos/controlplane/v1/controlplane.grpc.pb.h"
#include "clawos/identity/v1/identity.grpc.pb.h"
#include "clawos/launcher/v1/launcher.grpc.pb.h"
#include "clawos/monitor/v1/monitor.grpc.pb.h"
#include "clawos/orchestrator/v1/orchestrator.grpc.pb.h"
#include "clawos/proxy/v1/proxy_admin.grpc.pb.h"

namespace clawos::rest {

std::vector<const google::protobuf::ServiceDescriptor*> RestServices() {
  // Each service from its file (the generated stubs have no descriptor()).
  auto of = [](const google::protobuf::Descriptor* any, const char* service) {
    return any->file()->FindServiceByName(service);
  };
  return {of(::clawos::launcher::v1::Vm::descriptor(), "LauncherService"),
          of(::clawos::orchestrator::v1::Workflow::descriptor(), "OrchestratorService"),
          of(::clawos::proxy::v1::Limit::descriptor(), "ProxyAdminService"),
          of(::clawos::identity::v1::IssueTokenRequest::descriptor(), "IdentityService"),
          of(::clawos::monitor::v1::Event::descriptor(), "MonitorService"),
          of(::clawos::controlplane::v1::Event::descriptor(), "ControlPlaneService")};
}

std::string DaemonName(const google::protobuf::ServiceDescriptor* s) {
  static const std::map<std::string, std::string> kNames = {
      {"clawos.launcher.v1.LauncherService", "launcher"},
      {"clawos.identity.v1.IdentityService", "identity"},
      {"clawos.proxy.v1.ProxyAdminService", "inference proxy"},
      {"clawos.monitor.v1.MonitorService", "monitor"},
      {"clawos.orchestrator.v1.OrchestratorService", "orchestrator"},
      {"clawos.controlplane.v1.ControlPlaneService", "control plane"}};
  auto it = kNames.find(s->full_name());
  return it == kNames.end() ? s->name() : it->second;
}

}  // namespace clawos::rest
