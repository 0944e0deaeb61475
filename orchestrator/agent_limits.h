// An agent's `limits:` applied to its VM's subject in clawos-inference-proxy
// (ProxyAdminService.UpdateLimit), and removed when the VM is deleted.
#pragma once

#include <grpcpp/channel.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "orchestrator/spec.h"

namespace clawos::orchestrator {

class LimitSetter {
 public:
  virtual ~LimitSetter() = default;
  // `subject` as the launcher reports it, e.g. "agents/wf-1-writer".
  virtual absl::Status Set(const std::string& subject, const AgentLimits& limits) = 0;
  virtual absl::Status Remove(const std::string& subject) = 0;
};

std::unique_ptr<LimitSetter> MakeProxyLimitSetter(std::shared_ptr<grpc::Channel> proxy_admin);

}  // namespace clawos::orchestrator
