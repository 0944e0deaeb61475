// Daemon configuration on CLI11. Precedence: flags > CLAWOS_* environment >
// TOML file (--config / CLAWOS_CONFIG; keys are flag names, e.g. `max-ttl = "24h"`)
// > defaults.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "common/grpc_server.h"

namespace clawos {

// Options every daemon shares.
struct DaemonOptions {
  ServerOptions server;
  std::string metrics_listen;
  std::string log_level = "info";
};

// --config FILE (env CLAWOS_CONFIG).
void AddConfigFileFlag(CLI::App& app);

// A duration flag ("90s", "10m", "1h30m", "7d"); `out` keeps its value as default.
CLI::Option* AddDurationFlag(CLI::App& app, const std::string& name, absl::Duration* out,
                             const std::string& env, const std::string& help);

// A unix socket mode flag: "0600" or "0660" into `mode`.
CLI::Option* AddSocketModeFlag(CLI::App& app, const std::string& name, unsigned* mode,
                               const std::string& env);

// --listen (repeatable, comma-separated in env), --tls-cert, --tls-key,
// --tls-client-ca, --metrics-listen, --log-level, --drain-timeout, --socket-mode, with env
// names <env_prefix>_LISTEN etc. (env_prefix like "CLAWOS_IDENTITY").
void AddDaemonFlags(CLI::App& app, DaemonOptions* opts, const std::string& env_prefix);

// Parses argv. Returns an exit code when the program should stop now (after
// --help: 0; on a bad flag: 2, with the reason printed), else nullopt.
std::optional<int> ParseFlags(CLI::App& app, int argc, char** argv);

}  // namespace clawos
