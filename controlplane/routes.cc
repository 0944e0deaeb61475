#include "controlplane/routes.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"

namespace clawos::controlplane {

const std::vector<Route>& Routes() {
  static const std::vector<Route> kRoutes = {
      {"GET", "/v1/vms", Op::kListVms, Access::kViewer},
      {"POST", "/v1/vms", Op::kCreateVm, Access::kAdmin},
      {"GET", "/v1/vms/{name}", Op::kGetVm, Access::kViewer},
      {"DELETE", "/v1/vms/{name}", Op::kDeleteVm, Access::kAdmin},
      {"POST", "/v1/vms/{name}:start", Op::kStartVm, Access::kAdmin},
      {"POST", "/v1/vms/{name}:stop", Op::kStopVm, Access::kAdmin},
      {"POST", "/v1/vms/{name}:exec", Op::kExecVm, Access::kAdmin},
      {"GET", "/v1/vms/{name}/logs", Op::kVmLogs, Access::kViewer},
      {"GET", "/v1/images", Op::kListImages, Access::kViewer},
      {"POST", "/v1/images", Op::kImportImage, Access::kAdmin},
      {"GET", "/v1/agents/{id}/usage", Op::kGetUsage, Access::kViewer},
      {"GET", "/v1/agents/{id}/limits", Op::kGetLimits, Access::kViewer},
      {"PUT", "/v1/agents/{id}/limits", Op::kPutLimits, Access::kAdmin},
      {"POST", "/v1/tokens", Op::kCreateToken, Access::kAdmin},
      {"GET", "/v1/events", Op::kEvents, Access::kViewer},
      {"GET", "/v1/workflows", Op::kListWorkflows, Access::kViewer},
      {"POST", "/v1/workflows", Op::kSubmitWorkflow, Access::kAdmin},
      {"GET", "/v1/workflows/{workflow}", Op::kGetWorkflow, Access::kViewer},
      {"POST", "/v1/workflows/{workflow}:cancel", Op::kCancelWorkflow, Access::kAdmin},
      {"GET", "/v1/workflows/{workflow}/events", Op::kWorkflowEvents, Access::kViewer},
      // Step outputs are agent data (answers, files): operators only.
      {"GET", "/v1/workflows/{workflow}/steps/{step}/output", Op::kStepOutput, Access::kAdmin},
      {"GET", "/healthz", Op::kHealthz, Access::kPublic},
      {"GET", "/readyz", Op::kReadyz, Access::kPublic},
      {"GET", "/metrics", Op::kMetrics, Access::kLocal},
      {"GET", "/v1/openapi.json", Op::kOpenApi, Access::kPublic},
  };
  return kRoutes;
}

namespace {

// A parameter's value (a VM or agent id): 1-128 of [A-Za-z0-9._-]. Anything
// else names nothing (404), and never reaches a daemon's names.
bool ValidParam(const std::string& v) {
  if (v.empty() || v.size() > 128) return false;
  for (char ch : v) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '_' &&
        ch != '-') {
      return false;
    }
  }
  return true;
}

bool MatchPattern(const std::string& pattern, const std::string& path,
                  std::map<std::string, std::string>* params) {
  std::vector<std::string> want = absl::StrSplit(pattern, '/');
  std::vector<std::string> got = absl::StrSplit(path, '/');
  if (want.size() != got.size()) return false;
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < want.size(); ++i) {
    const std::string& w = want[i];
    const std::string& g = got[i];
    if (w.empty() || w[0] != '{') {
      if (w != g) return false;
      continue;
    }
    size_t close = w.find('}');
    std::string name = w.substr(1, close - 1);
    std::string suffix = w.substr(close + 1);  // e.g. ":start"
    if (g.size() <= suffix.size() || g.compare(g.size() - suffix.size(), suffix.size(), suffix)) {
      return false;
    }
    std::string value = g.substr(0, g.size() - suffix.size());
    if (!ValidParam(value)) return false;
    out[name] = value;
  }
  *params = std::move(out);
  return true;
}

}  // namespace

std::optional<RouteMatch> MatchRoute(const std::string& method, const std::string& path,
                                     std::vector<std::string>* allowed) {
  for (const Route& r : Routes()) {
    std::map<std::string, std::string> params;
    if (!MatchPattern(r.pattern, path, &params)) continue;
    if (method == r.method) {
      return RouteMatch{&r, std::move(params)};
    }
    if (allowed) allowed->push_back(r.method);
  }
  return std::nullopt;
}

}  // namespace clawos::controlplane
