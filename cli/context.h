// What every `clawos` command shares: daemon addresses, the control plane's
// URL and operator token, output format, and reporting of errors.
#pragma once

#include <iostream>
#include <memory>
#include <string>

#include <google/protobuf/message.h>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/addresses.h"
#include "common/grpc_client.h"

namespace clawos::cli {

struct Context {
  std::string identity_addr = kDefaultIdentityAddr;
  std::string launcher_addr = kDefaultLauncherAddr;
  std::string proxy_admin_addr = kDefaultProxyAdminAddr;
  std::string monitor_addr = kDefaultMonitorAddr;
  std::string orchestrator_addr = kDefaultOrchestratorAddr;
  std::string output = "text";  // "text" or "json"
  ClientOptions tls;
  // The control plane (REST), which `vm` and `image import|list` use unless
  // `direct` is set.
  std::string url = kDefaultControlPlaneUrl;  // --url / CLAWOS_URL
  std::string token_file;                     // --token-file / CLAWOS_TOKEN_FILE
  std::string ca_file;                        // --cacert / CLAWOS_CA_FILE
  bool direct = false;                        // --direct / CLAWOS_DIRECT=1: gRPC to the daemons
  bool json() const { return output == "json"; }
};

// Where the operator token for the control plane is looked for, in this
// order. The token itself is never a command-line argument (it would show in
// `ps` and shell history).
struct TokenPlaces {
  std::string env_token;   // CLAWOS_TOKEN
  std::string token_file;  // --token-file / CLAWOS_TOKEN_FILE
  std::string user_file;   // ~/.config/clawos/token: used only when mode 0600
  std::string admin_file;  // the control plane's admin.token, when readable (root on the host)
};
inline constexpr char kHostAdminTokenFile[] = "/var/lib/clawos/controlplane/admin.token";

struct FoundToken {
  std::string token;
  std::string source;  // "CLAWOS_TOKEN", or the file it came from
};

// The places for this process: CLAWOS_TOKEN, ctx.token_file, $HOME/.config/clawos/token
// and kHostAdminTokenFile.
TokenPlaces DefaultTokenPlaces(const Context& ctx);
// The first token found. FAILED_PRECONDITION for a user token file that
// others may read, an unreadable or empty --token-file or a malformed token;
// UNAUTHENTICATED naming every place when there is none.
absl::StatusOr<FoundToken> FindToken(const TokenPlaces& places);

// Prints "clawos: <what>: <CODE>: <message>" on stderr, the message through
// TerminalSafe; returns the exit code (1).
int ReportError(const std::string& what, const absl::Status& status);
// Protobuf JSON (proto field names, indented) of a message, DEL and C1
// controls \u-escaped (JsonTerminalSafe).
std::string ToJson(const google::protobuf::Message& m);
// Prints a JSON value (pretty; invalid UTF-8 as U+FFFD; JsonTerminalSafe) on stdout.
void PrintJson(const nlohmann::json& j);
// Reads all of stdin.
std::string ReadStdin();

}  // namespace clawos::cli
