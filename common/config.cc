#include "common/config.h"

#include "common/duration.h"

namespace clawos {

void AddConfigFileFlag(CLI::App& app) {
  app.set_config("--config", "", "TOML file of flag values (flags and env override it)")
      ->envname("CLAWOS_CONFIG");
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
}

std::optional<int> ParseFlags(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  return std::nullopt;
}

}  // namespace clawos
