// The CLI's connection to clawos-vm-launcher and what the vm commands share.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "clawos/launcher/v1/launcher.grpc.pb.h"
#include "cli/context.h"

namespace clawos::cli {

namespace lpb = ::clawos::launcher::v1;

absl::StatusOr<std::unique_ptr<lpb::LauncherService::Stub>> LauncherStub(const Context& ctx);
// A failed call's status, with a hint when the launcher cannot be reached.
absl::Status LauncherError(const Context& ctx, const grpc::Status& s);
// "web" → "vms/web"; "vms/web" stays.
std::string VmName(const std::string& id);
std::string ImageName(const std::string& id);
// "12s", "3m", "2h", "4d" since `t`.
std::string Age(const google::protobuf::Timestamp& t);

}  // namespace clawos::cli
