// The REST API's requests as the daemons' messages: a route's parameters,
// the query and the JSON body (protobuf's mapping) into the request each
// operation sends, without gRPC or sockets. Refusals are INVALID_ARGUMENT
// with a message fit to show (api.cc answers them as 400); query text that
// goes into a request must be valid UTF-8. Nothing here
// calls a daemon. The fuzz build links it alone (controlplane_fuzz).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clawos/identity/v1/identity.pb.h"
#include "clawos/launcher/v1/launcher.pb.h"
#include "clawos/orchestrator/v1/orchestrator.pb.h"
#include "clawos/proxy/v1/proxy_admin.pb.h"
#include "common/http/query.h"
#include "common/http/server.h"
#include "controlplane/routes.h"

namespace clawos::controlplane {

namespace lpb = ::clawos::launcher::v1;
namespace ipb = ::clawos::identity::v1;
namespace ppb = ::clawos::proxy::v1;
namespace opb = ::clawos::orchestrator::v1;

// One REST call's parts.
struct RequestInput {
  const http::Request& req;  // the body, and Last-Event-ID
  const http::Target& target;
  const RouteMatch& match;
  absl::Time now;  // usage queries default to the 30 days before it
};

// ?page_size=N: a non-negative integer, at most 1000 (0: the daemon's default).
absl::StatusOr<int32_t> PageSizeQuery(const http::Target& t);
// The settable Limit fields a PUT limits body names (its update mask).
absl::StatusOr<std::vector<std::string>> LimitFields(const std::string& body);

absl::Status ToRequest(const RequestInput& in, lpb::ListVmsRequest* out);
absl::Status ToRequest(const RequestInput& in, lpb::CreateVmRequest* out);
absl::Status ToRequest(const RequestInput& in, lpb::GetVmRequest* out);
absl::Status ToRequest(const RequestInput& in, lpb::DeleteVmRequest* out);
absl::Status ToRequest(const RequestInput& in, lpb::StartVmRequest* out);
absl::Status ToRequest(const RequestInput& in, lpb::StopVmRequest* out);
absl::Status ToRequest(const RequestInput& in, lpb::ExecVmRequest* out);
absl::Status ToRequest(const RequestInput& in, lpb::StreamVmLogsRequest* out);
absl::Status ToRequest(const RequestInput& in, lpb::ListImagesRequest* out);
absl::Status ToRequest(const RequestInput& in, lpb::ImportImageRequest* out);
absl::Status ToRequest(const RequestInput& in, ppb::QueryUsageRequest* out);
absl::Status ToRequest(const RequestInput& in, ppb::GetLimitRequest* out);
absl::Status ToRequest(const RequestInput& in, ppb::UpdateLimitRequest* out);
absl::Status ToRequest(const RequestInput& in, ipb::IssueTokenRequest* out);
absl::Status ToRequest(const RequestInput& in, opb::ListWorkflowsRequest* out);
absl::Status ToRequest(const RequestInput& in, opb::SubmitWorkflowRequest* out);
absl::Status ToRequest(const RequestInput& in, opb::GetWorkflowRequest* out);
absl::Status ToRequest(const RequestInput& in, opb::CancelWorkflowRequest* out);
absl::Status ToRequest(const RequestInput& in, opb::WatchWorkflowRequest* out);
absl::Status ToRequest(const RequestInput& in, opb::GetStepOutputRequest* out);

// GET /v1/events: the event id to go on after (Last-Event-ID, else ?after),
// or nullopt when neither is given (a new client starts from now).
absl::StatusOr<std::optional<int64_t>> EventsAfter(const RequestInput& in);

}  // namespace clawos::controlplane
