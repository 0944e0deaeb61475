#include "common/config.h"

#include "common/duration.h"

namespace clawos {

namespace {

// Applies `key = value` lines of the --config TOML file to options that
// neither a flag nor an environment variable has set. (CLI11's own config
// support would let the file override the environment.)
void ApplyConfigFile(CLI::App& app) {
  CLI::Option* config = app.get_option_no_throw("--config");
  if (!config || config->count() == 0) return;
  std::string path = config->as<std::string>();
  if (path.empty()) return;
  for (const CLI::ConfigItem& item : CLI::ConfigTOML().from_file(path)) {
    if (!item.parents.empty()) {
      throw CLI::ConfigError("[" + item.parents.front() + "] sections are not supported in " +
                             path);
    }
    CLI::Option* opt = app.get_option_no_throw("--" + item.name);
    if (!opt || opt == config) {
      throw CLI::ConfigError("unknown setting \"" + item.name + "\" in " + path);
    }
    if (opt->count() > 0) continue;  // a flag or the environment wins
    for (const std::string& v : item.inputs) opt->add_result(v);
    opt->run_callback();
  }
}

}  // namespace

void AddConfigFileFlag(CLI::App& app) {
  app.add_option("--config", "TOML file of flag values (flags and env override it)")
      ->envname("CLAWOS_CONFIG")
      ->check(CLI::ExistingFile);
}

CLI::Option* AddDurationFlag(CLI::App& app, const std::string& name, absl::Duration* out,
                             const std::string& env, const std::string& help) {
  std::string def = clawos::FormatDuration(*out);
  auto* opt = app.add_option_function<std::string>(
      name,
      [out, name](const std::string& v) {
        auto d = ParseDuration(v);
        if (!d.ok()) throw CLI::ValidationError(name, std::string(d.status().message()));
        *out = *d;
      },
      help + " (default " + def + ")");
  if (!env.empty()) opt->envname(env);
  return opt;
}

void AddDaemonFlags(CLI::App& app, DaemonOptions* o, const std::string& p) {
  app.add_option("--listen", o->server.listen,
                 "Listen address, repeatable: unix:/path or host:port")
      ->envname(p + "_LISTEN")
      ->delimiter(',');
  app.add_option("--tls-cert", o->server.tls_cert_file, "PEM certificate for TCP listeners")
      ->envname(p + "_TLS_CERT");
  app.add_option("--tls-key", o->server.tls_key_file, "PEM private key (mode 0600)")
      ->envname(p + "_TLS_KEY");
  app.add_option("--tls-client-ca", o->server.tls_client_ca_file,
                 "PEM CA; when set, TCP clients must present a certificate it signed (mTLS)")
      ->envname(p + "_TLS_CLIENT_CA");
  app.add_option("--metrics-listen", o->metrics_listen,
                 "host:port for Prometheus /metrics; \"off\" disables")
      ->envname(p + "_METRICS_LISTEN")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
      ->capture_default_str();
  app.add_option("--log-level", o->log_level, "debug, info, warn or error")
      ->envname("CLAWOS_LOG_LEVEL")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->capture_default_str();
  AddDurationFlag(app, "--drain-timeout", &o->server.drain_timeout, p + "_DRAIN_TIMEOUT",
                  "How long in-flight RPCs may finish after SIGTERM");
  AddSocketModeFlag(app, "--socket-mode", &o->server.socket_mode, p + "_SOCKET_MODE");
}

CLI::Option* AddSocketModeFlag(CLI::App& app, const std::string& name, unsigned* mode,
                               const std::string& env) {
  return app
      .add_option_function<std::string>(
          name,
          [mode, name](const std::string& v) {
            if (v != "0600" && v != "0660") {
              throw CLI::ValidationError(name, "must be 0600 (this user) or 0660 (and its group)");
            }
            *mode = v == "0660" ? 0660 : 0600;
          },
          "Mode of unix sockets: 0600 (default; only this user may call) or 0660 (its group too, "
          "for daemons of one host running as different users)")
      ->envname(env);
}

std::optional<int> ParseFlags(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
    ApplyConfigFile(app);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  return std::nullopt;
}

}  // namespace clawos
