// clawos-inference-proxy: the agents' only road to an LLM. OpenAI- and
// Anthropic-compatible HTTP on 127.0.0.1:11435; agent JWTs verified locally;
// RPM/TPM/token-budget limits by reservation; usage ledger (SQLite) and JSONL
// audit. See docs/inference-proxy.md.
#include <iostream>

#include "common/config.h"
#include "common/files.h"
#include "common/grpc_server.h"
#include "common/http/server.h"
#include "common/log.h"
#include "common/metrics.h"
#include "inference-proxy/admin_service.h"
#include "inference-proxy/handler.h"
#include "inference-proxy/limit_store.h"
#include "inference-proxy/provider_keys.h"

namespace {

int Fail(std::string_view why) { return clawos::log::StartupFailed(why); }

}  // namespace

int main(int argc, char** argv) {
  using namespace clawos::proxy;
  clawos::BlockShutdownSignals();
  std::string listen = "127.0.0.1:11435";
  std::string state_dir = "/var/lib/clawos/proxy";
  std::string identity_addr = "unix:/var/lib/clawos/identity/identity.sock";
  std::string audience = "clawos-inference-proxy";
  std::string issuer = "clawos-identity";
  std::string openai_url = "https://api.openai.com";
  std::string anthropic_url = "https://api.anthropic.com";
  std::string log_level = "info";
  std::vector<std::string> admin_listen;
  clawos::ServerOptions admin_tls;
  std::string metrics_listen = "127.0.0.1:9084";
  LimitValues limits;
  HandlerConfig hc;

  CLI::App app{"clawos-inference-proxy: authenticated, limited, accounted LLM access for agents"};
  clawos::AddConfigFileFlag(app);
  app.add_option("--listen", listen, "HTTP listen address host:port")
      ->envname("CLAWOS_PROXY_ADDR")
      ->capture_default_str();
  app.add_option("--state-dir", state_dir, "Directory (0700) for usage.db and audit.jsonl")
      ->envname("CLAWOS_PROXY_STATE_DIR")
      ->capture_default_str();
  app.add_option("--identity", identity_addr, "clawos-identity (JWKS, revocations, provider keys)")
      ->envname("CLAWOS_IDENTITY_ADDR")
      ->capture_default_str();
  app.add_option("--audience", audience, "The aud agent tokens must carry")
      ->envname("CLAWOS_PROXY_AUDIENCE")
      ->capture_default_str();
  app.add_option("--issuer", issuer, "The iss agent tokens must carry")
      ->envname("CLAWOS_IDENTITY_ISSUER")
      ->capture_default_str();
  app.add_option("--rpm", limits.requests_per_minute, "Default requests per minute per agent")
      ->envname("CLAWOS_PROXY_RATE_LIMIT_RPM")
      ->capture_default_str();
  app.add_option("--tpm", limits.tokens_per_minute, "Default tokens per minute per agent; 0: none")
      ->envname("CLAWOS_PROXY_RATE_LIMIT_TPM")
      ->capture_default_str();
  app.add_option("--budget-tokens", limits.budget_tokens,
                 "Default token budget per agent per budget window; 0: none")
      ->envname("CLAWOS_PROXY_BUDGET_TOKENS")
      ->capture_default_str();
  clawos::AddDurationFlag(app, "--budget-window", &limits.budget_window,
                          "CLAWOS_PROXY_BUDGET_WINDOW", "The sliding window of the token budget");
  app.add_option("--openai-url", openai_url, "OpenAI-compatible upstream")
      ->envname("CLAWOS_PROXY_OPENAI_URL")
      ->capture_default_str();
  app.add_option("--anthropic-url", anthropic_url, "Anthropic-compatible upstream")
      ->envname("CLAWOS_PROXY_ANTHROPIC_URL")
      ->capture_default_str();
  std::vector<std::string> model_routes;
  app.add_option(
         "--model-route", model_routes,
         "PREFIX=openai|anthropic: models starting with PREFIX go to that provider "
         "(after the built-in claude*, gpt*, o1*, o3*, o4*, text-embedding*; last match wins)")
      ->envname("CLAWOS_PROXY_MODEL_ROUTES")
      ->delimiter(',');
  app.add_option("--default-max-output", hc.default_max_output,
                 "Output cap set on requests without one (bounds the reservation)")
      ->capture_default_str();
  app.add_option("--admin-listen", admin_listen,
                 "Admin gRPC listeners (default 127.0.0.1:2084 and unix:<state>/admin.sock)")
      ->envname("CLAWOS_PROXY_ADMIN_LISTEN")
      ->delimiter(',');
  // The admin API is trusted-transport only: its TCP listener serves clients
  // with a certificate from --admin-tls-client-ca (mTLS); the unix socket
  // needs nothing more than its 0600 mode.
  clawos::AddSocketModeFlag(app, "--admin-socket-mode", &admin_tls.socket_mode,
                            "CLAWOS_PROXY_ADMIN_SOCKET_MODE");
  app.add_option("--admin-tls-cert", admin_tls.tls_cert_file, "PEM certificate for the admin TCP")
      ->envname("CLAWOS_PROXY_ADMIN_TLS_CERT");
  app.add_option("--admin-tls-key", admin_tls.tls_key_file, "PEM private key (mode 0600)")
      ->envname("CLAWOS_PROXY_ADMIN_TLS_KEY");
  app.add_option("--admin-tls-client-ca", admin_tls.tls_client_ca_file,
                 "PEM CA the admin API's TCP clients must present a certificate from (mTLS)")
      ->envname("CLAWOS_PROXY_ADMIN_TLS_CLIENT_CA");
  app.add_option("--metrics-listen", metrics_listen,
                 "Prometheus /metrics address host:port (\"off\": none)")
      ->envname("CLAWOS_PROXY_METRICS_ADDR")
      ->capture_default_str();
  app.add_option("--bytes-per-token", hc.bytes_per_token,
                 "Prompt tokens are reserved as request bytes / this (1: a strict upper bound)")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  clawos::AddDurationFlag(app, "--upstream-timeout", &hc.upstream_timeout,
                          "CLAWOS_PROXY_UPSTREAM_TIMEOUT", "Per upstream socket operation");
  clawos::identity::VerifierConfig verifier;
  clawos::AddDurationFlag(app, "--leeway", &verifier.leeway, "CLAWOS_PROXY_LEEWAY",
                          "Clock skew allowed on exp/nbf of agent tokens");
  absl::Duration request_timeout = absl::Seconds(30);
  clawos::AddDurationFlag(app, "--request-timeout", &request_timeout,
                          "CLAWOS_PROXY_REQUEST_TIMEOUT",
                          "A request's head and body must arrive within this (else 408)");
  absl::Duration retention = absl::Hours(24 * 90);
  clawos::AddDurationFlag(app, "--ledger-retention", &retention, "CLAWOS_PROXY_LEDGER_RETENTION",
                          "Ledger rows older than this are deleted (never rows a budget window "
                          "still counts)");
  absl::Duration refresh = absl::Seconds(5);
  clawos::AddDurationFlag(app, "--refresh-interval", &refresh, "CLAWOS_PROXY_REFRESH_INTERVAL",
                          "How often revocations (and keys) are refetched from identity");
  app.add_option("--log-level", log_level, "debug, info, warn, error")
      ->envname("CLAWOS_PROXY_LOG_LEVEL")
      ->capture_default_str();
  if (auto rc = clawos::ParseFlags(app, argc, argv)) return *rc;
  clawos::log::Init("clawos-inference-proxy", log_level);

  for (const auto& rule : model_routes) {
    auto r = ParseModelRoute(rule);
    if (!r.ok()) return Fail(std::string(r.status().message()));
    hc.model_prefixes.push_back(*r);
  }
  if (auto s = clawos::EnsurePrivateDir(state_dir); !s.ok()) return Fail(std::string(s.message()));
  for (auto [provider, url, env, secret] :
       {std::tuple{Provider::kOpenAi, openai_url, "CLAWOS_OPENAI_API_KEY", "openai"},
        std::tuple{Provider::kAnthropic, anthropic_url, "CLAWOS_ANTHROPIC_API_KEY", "anthropic"}}) {
    auto u = clawos::http::ParseUrl(url);
    if (!u.ok()) return Fail(std::string(u.status().message()));
    auto key = LoadProviderKey(env, identity_addr, secret);
    if (!key.ok()) {
      clawos::log::Warn("provider disabled", {{"provider", ProviderName(provider)},
                                              {"reason", std::string(key.status().message())}});
      continue;
    }
    hc.providers[provider] = {*u, *key};
  }
  if (hc.providers.empty()) {  // still serve: agents get a clear 503, operators see this
    clawos::log::Warn("no provider key at all: every request is answered 503 until one is set",
                      {{"see", "docs/inference-proxy.md"}});
  }

  auto ledger = Ledger::Open(state_dir + "/usage.db");
  if (!ledger.ok()) return Fail(std::string(ledger.status().message()));
  auto audit = AuditLog::Open(state_dir + "/audit.jsonl");
  if (!audit.ok()) return Fail(std::string(audit.status().message()));
  Limiter limiter(clawos::RealClock::Get(), limits);
  auto limit_store = LimitStore::Open(state_dir + "/limits.db");
  if (!limit_store.ok()) return Fail(std::string(limit_store.status().message()));
  if (auto s = (*limit_store)->ApplyTo(limiter); !s.ok()) return Fail(std::string(s.message()));
  limits = limiter.defaults();
  // Budgets hold across restarts: what the ledger says was spent in the window.
  absl::Duration window = std::max(absl::Minutes(1), limiter.LongestBudgetWindow());
  if (auto spend = (*ledger)->SpendSince(absl::Now() - window); spend.ok()) {
    for (const auto& s : *spend) limiter.Preload(s.subject, s.time, s.tokens);
  }
  verifier.issuer = issuer;
  if (verifier.leeway < absl::ZeroDuration() || verifier.leeway > clawos::identity::kMaxLeeway) {
    return Fail("--leeway must be between 0s and 5m");
  }
  clawos::identity::RemoteVerifier auth(clawos::identity::IdentityKeySource(identity_addr),
                                        verifier, audience, clawos::RealClock::Get(), refresh);
  if (auto s = auth.Refresh(); !s.ok()) return Fail(std::string(s.message()));
  auth.StartRefresh();
  auto metrics = clawos::Metrics::Start(metrics_listen);
  if (!metrics.ok()) return Fail(std::string(metrics.status().message()));
  ProxyMetrics proxy_metrics((*metrics)->registry());
  LedgerWriter ledger_writer(**ledger, audit->get());
  if (retention <= absl::ZeroDuration()) return Fail("--ledger-retention must be positive");
  ledger_writer.SetRetention([&limiter, retention] {
    // A budget window longer than the retention keeps its rows anyway.
    return absl::Now() - std::max(retention, limiter.LongestBudgetWindow());
  });
  ProxyHandler handler(hc, auth, limiter, ledger_writer, clawos::RealClock::Get());
  handler.set_metrics(&proxy_metrics);
  clawos::http::ServerOptions o;
  o.request_timeout = request_timeout;
  size_t colon = listen.rfind(':');
  o.host = listen.substr(0, colon);
  o.port = std::atoi(listen.substr(colon + 1).c_str());
  auto server = clawos::http::Server::Start(o, handler);
  if (!server.ok()) return Fail(std::string(server.status().message()));
  if (admin_listen.empty()) admin_listen = {"127.0.0.1:2084", "unix:" + state_dir + "/admin.sock"};
  ProxyAdminService admin(limiter, **limit_store, **ledger);
  clawos::ServerOptions so = admin_tls;
  so.listen = admin_listen;
  auto admin_server = clawos::GrpcServer::Start(
      so, {clawos::Serve<clawos::proxy::v1::ProxyAdminService>(&admin)}, metrics->get());
  if (!admin_server.ok()) return Fail(std::string(admin_server.status().message()));
  clawos::log::Info("serving", {{"listen", o.host + ":" + std::to_string((*server)->port())},
                                {"admin", (*admin_server)->bound()},
                                {"metrics_port", (*metrics)->port()},
                                {"state_dir", state_dir},
                                {"providers", static_cast<int64_t>(hc.providers.size())}});
  int sig = clawos::WaitForShutdownSignal();
  clawos::log::Info("draining", {{"signal", sig}});
  (*server)->Stop();
  (*admin_server)->Shutdown();
  clawos::log::Info("stopped");
  return 0;
}
