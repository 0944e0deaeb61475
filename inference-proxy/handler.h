// The data path of one request, independent of sockets: route, authenticate,
// parse, reserve against the limits, call the upstream with the provider's
// key (the agent's credentials are dropped), pass the answer through (SSE
// chunk by chunk), settle the reservation to the real usage, and record the
// request in the ledger and the audit log. Every refusal and fault answers in
// the provider's own error shape and is recorded too.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/http/client.h"
#include "common/http/server.h"
#include "identity/remote_verifier.h"
#include "inference-proxy/audit_log.h"
#include "inference-proxy/ledger.h"
#include "inference-proxy/ledger_writer.h"
#include "inference-proxy/limiter.h"
#include "inference-proxy/proxy_metrics.h"
#include "inference-proxy/usage.h"

namespace clawos::proxy {

struct ProviderConfig {
  http::Url url;
  std::string api_key;                     // from clawos-identity's sealed store or the environment
  std::shared_ptr<http::ClientPool> pool;  // kept-alive connections; made from `url` when null
};

struct HandlerConfig {
  std::map<Provider, ProviderConfig> providers;
  // Model-name prefixes that pick a provider, e.g. {"claude", kAnthropic};
  // the last matching rule wins, so rules appended here override these.
  std::vector<std::pair<std::string, Provider>> model_prefixes = {
      {"claude", Provider::kAnthropic}, {"gpt", Provider::kOpenAi},
      {"o1", Provider::kOpenAi},        {"o3", Provider::kOpenAi},
      {"o4", Provider::kOpenAi},        {"text-embedding", Provider::kOpenAi}};
  int64_t default_max_output = 4096;
  // Prompt tokens are estimated as request bytes / this (1: a strict upper bound).
  int64_t bytes_per_token = 1;
  absl::Duration upstream_timeout = absl::Minutes(5);
  size_t max_response_bytes = 32 << 20;  // non-streamed answers are read whole
};

// "PREFIX=openai" or "PREFIX=anthropic": models starting with PREFIX go to
// that provider. INVALID_ARGUMENT names what is wrong.
absl::StatusOr<std::pair<std::string, Provider>> ParseModelRoute(const std::string& rule);

class ProxyHandler : public http::RequestHandler {
 public:
  ProxyHandler(HandlerConfig config, identity::RemoteVerifier& auth, Limiter& limiter,
               LedgerWriter& ledger, const Clock& clock)
      : config_(std::move(config)), auth_(auth), limiter_(limiter), ledger_(ledger), clock_(clock) {
    for (auto& [provider, pc] : config_.providers) {
      if (!pc.pool) pc.pool = std::make_shared<http::ClientPool>(pc.url);
    }
  }

  void Handle(const http::Request& request, http::ResponseSink& sink) override;
  // Optional; every request is counted in it once finished.
  void set_metrics(ProxyMetrics* metrics) { metrics_ = metrics; }

 private:
  HandlerConfig config_;
  identity::RemoteVerifier& auth_;
  Limiter& limiter_;
  LedgerWriter& ledger_;
  const Clock& clock_;
  ProxyMetrics* metrics_ = nullptr;
};

}  // namespace clawos::proxy
