#include "inference-proxy/proxy_metrics.h"

#include "absl/time/time.h"

namespace clawos::proxy {

ProxyMetrics::ProxyMetrics(prometheus::Registry& registry)
    : requests_(&prometheus::BuildCounter()
                     .Name("clawos_proxy_requests_total")
                     .Help("Requests on the data path by provider, outcome and HTTP status.")
                     .Register(registry)),
      tokens_(&prometheus::BuildCounter()
                   .Name("clawos_proxy_tokens_total")
                   .Help("Tokens the upstreams reported, by provider and direction.")
                   .Register(registry)),
      latency_(&prometheus::BuildHistogram()
                    .Name("clawos_proxy_request_seconds")
                    .Help("Time from the request's arrival to its last byte, by provider.")
                    .Register(registry)),
      in_flight_(&prometheus::BuildGauge()
                      .Name("clawos_proxy_requests_in_flight")
                      .Help("Requests being handled now.")
                      .Register(registry)
                      .Add({})) {}

void ProxyMetrics::Finished(const LedgerRow& row) {
  in_flight_->Decrement();
  const std::string provider = row.provider.empty() ? "none" : row.provider;
  requests_
      ->Add({{"provider", provider},
             {"outcome", OutcomeName(row.outcome)},
             {"code", std::to_string(row.http_status)}})
      .Increment();
  if (row.prompt_tokens > 0) {
    tokens_->Add({{"provider", provider}, {"direction", "input"}})
        .Increment(static_cast<double>(row.prompt_tokens));
  }
  if (row.completion_tokens > 0) {
    tokens_->Add({{"provider", provider}, {"direction", "output"}})
        .Increment(static_cast<double>(row.completion_tokens));
  }
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
  latency_->Add({{"provider", provider}}, kBuckets).Observe(absl::ToDoubleSeconds(row.latency));
}

}  // namespace clawos::proxy
