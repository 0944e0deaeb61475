// The control plane's REST routes: method + path pattern → operation, and
// who may call it. Patterns are grpc-gateway style: "/v1/vms/{name}:start"
// (a parameter is one path segment; a custom verb follows a colon).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace clawos::controlplane {

enum class Op {
  kListVms,
  kCreateVm,
  kGetVm,
  kDeleteVm,
  kStartVm,
  kStopVm,
  kExecVm,
  kVmLogs,
  kListImages,
  kImportImage,
  kGetUsage,
  kGetLimits,
  kPutLimits,
  kCreateToken,
  kEvents,
  kListWorkflows,
  kSubmitWorkflow,
  kGetWorkflow,
  kCancelWorkflow,
  kWorkflowEvents,
  kStepOutput,
  kHealthz,
  kReadyz,
  kMetrics,
  kOpenApi,
};

// kPublic: no token (health, the API document). kLocal (metrics): no token
// for a direct caller on a loopback listener, else as kViewer (operator_auth.h).
// kViewer: any operator token. kAdmin: role admin (or operator); every such
// call is audited.
enum class Access { kPublic, kLocal, kViewer, kAdmin };

struct Route {
  const char* method;
  const char* pattern;
  Op op;
  Access access;
};

const std::vector<Route>& Routes();

struct RouteMatch {
  const Route* route = nullptr;
  std::map<std::string, std::string> params;
};

// The route for `method` and `path` (no query), or nullopt. `allowed` gets
// the methods the path has when only the method is wrong (for 405).
std::optional<RouteMatch> MatchRoute(const std::string& method, const std::string& path,
                                     std::vector<std::string>* allowed = nullptr);

}  // namespace clawos::controlplane
