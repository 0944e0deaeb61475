// The launcher operations the `vm` and `image` commands use, behind one
// interface with two ways to reach them: REST through clawos-controlplane
// (the default: --url, the operator token) or gRPC straight to
// clawos-vm-launcher (--direct: --launcher). Both give the same messages and
// statuses, so the commands print the same output and exit codes either way.
#pragma once

#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clawos/launcher/v1/launcher.grpc.pb.h"
#include "cli/context.h"
#include "cli/rest_client.h"

namespace clawos::cli {

namespace lpb = ::clawos::launcher::v1;

class LauncherApi {
 public:
  virtual ~LauncherApi() = default;

  virtual absl::StatusOr<lpb::Vm> GetVm(const lpb::GetVmRequest& req) = 0;
  virtual absl::StatusOr<lpb::ListVmsResponse> ListVms(const lpb::ListVmsRequest& req) = 0;
  virtual absl::StatusOr<lpb::Vm> CreateVm(const lpb::CreateVmRequest& req) = 0;
  // Waits until the VM runs (or failed), at most `timeout`.
  virtual absl::StatusOr<lpb::Vm> StartVm(const lpb::StartVmRequest& req,
                                          absl::Duration timeout) = 0;
  virtual absl::StatusOr<lpb::Vm> StopVm(const lpb::StopVmRequest& req, absl::Duration timeout) = 0;
  virtual absl::Status DeleteVm(const lpb::DeleteVmRequest& req) = 0;
  virtual absl::StatusOr<lpb::ListImagesResponse> ListImages(const lpb::ListImagesRequest& req) = 0;
  virtual absl::StatusOr<lpb::Image> ImportImage(const lpb::ImportImageRequest& req) = 0;
  // No REST route: the REST implementation calls the launcher over gRPC.
  virtual absl::Status DeleteImage(const lpb::DeleteImageRequest& req) = 0;

  // Runs a command; each message (started, output, exit) goes to
  // `on_message` as it arrives. The stream's end status.
  virtual absl::Status ExecVm(
      const lpb::ExecVmRequest& req,
      const std::function<void(const lpb::ExecVmResponse&)>& on_message) = 0;
  // A VM's log lines; with req.follow() until the VM stops or the call is cut.
  virtual absl::Status StreamVmLogs(const lpb::StreamVmLogsRequest& req,
                                    const std::function<void(const lpb::LogEntry&)>& on_entry) = 0;
  // Every VM's changes from now on, until `cancel` is cancelled (then CANCELLED)
  // or the stream fails. `cancel` is marked started once the watch is under way.
  virtual absl::Status WatchVms(const std::function<void(const lpb::VmEvent&)>& on_event,
                                Canceller* cancel) = 0;
};

// REST to ctx.url with the operator token (FindToken), or gRPC to
// ctx.launcher_addr when ctx.direct.
absl::StatusOr<std::unique_ptr<LauncherApi>> MakeLauncherApi(const Context& ctx);
// Always gRPC to ctx.launcher_addr: for what the control plane has no route for.
absl::StatusOr<std::unique_ptr<LauncherApi>> MakeGrpcLauncherApi(const Context& ctx);

}  // namespace clawos::cli
