// What the vm and image commands share: the launcher's messages, resource
// names and ages.
#pragma once

#include <memory>
#include <string>

#include <google/protobuf/timestamp.pb.h>

#include "clawos/launcher/v1/launcher.pb.h"

namespace clawos::cli {

namespace lpb = ::clawos::launcher::v1;

// "web" → "vms/web"; "vms/web" stays.
std::string VmName(const std::string& id);
std::string ImageName(const std::string& id);
// "12s", "3m", "2h", "4d" since `t`.
std::string Age(const google::protobuf::Timestamp& t);

}  // namespace clawos::cli
