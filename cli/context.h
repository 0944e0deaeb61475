// What every `clawos` command shares: daemon addresses, output format, and
// reporting of errors.
#pragma once

#include <iostream>
#include <memory>
#include <string>

#include <google/protobuf/message.h>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "common/addresses.h"
#include "common/grpc_client.h"

namespace clawos::cli {

struct Context {
  std::string identity_addr = kDefaultIdentityAddr;
  std::string launcher_addr = kDefaultLauncherAddr;
  std::string proxy_admin_addr = kDefaultProxyAdminAddr;
  std::string monitor_addr = kDefaultMonitorAddr;
  std::string output = "text";  // "text" or "json"
  ClientOptions tls;
  bool json() const { return output == "json"; }
};

// Prints "clawos: <what>: <CODE>: <message>" on stderr; returns the exit code (1).
int ReportError(const std::string& what, const absl::Status& status);
// Protobuf JSON (proto field names, indented) of a message.
std::string ToJson(const google::protobuf::Message& m);
// Prints a JSON value (pretty) on stdout.
void PrintJson(const nlohmann::json& j);
// Reads all of stdin.
std::string ReadStdin();

}  // namespace clawos::cli
