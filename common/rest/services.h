// The services whose annotated methods the REST API serves: the daemons'
// and the control plane's own. The transcoder routes them; the OpenAPI
// generator documents them; the CLI calls them; nothing else lists them.
#pragma once

#include <google/protobuf/descriptor.h>

#include <string>
#include <vector>

namespace clawos::rest {

std::vector<const google::protobuf::ServiceDescriptor*> RestServices();

// What a service's daemon is called in errors ("launcher is unavailable").
std::string DaemonName(const google::protobuf::ServiceDescriptor* service);

}  // namespace clawos::rest
