#include "inference-proxy/proxy_metrics.h"

#include "absl/strings/str_cat.h"
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

const ProxyMetrics::Series& ProxyMetrics::SeriesFor(const std::string& provider, Outcome outcome,
                                                    int status) {
  const std::string key = absl::StrCat(provider, " ", static_cast<int>(outcome), " ", status);
  {
    std::shared_lock lock(mu_);
    if (auto it = series_.find(key); it != series_.end()) return it->second;
  }
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
  Series s{&requests_->Add({{"provider", provider},
                            {"outcome", OutcomeName(outcome)},
                            {"code", std::to_string(status)}}),
           &tokens_->Add({{"provider", provider}, {"direction", "input"}}),
           &tokens_->Add({{"provider", provider}, {"direction", "output"}}),
           &latency_->Add({{"provider", provider}}, kBuckets)};
  std::unique_lock lock(mu_);
  return series_.emplace(key, s).first->second;  // references stay valid on rehash
}

void ProxyMetrics::Finished(const LedgerRow& row) {
  in_flight_->Decrement();
  const Series& s =
      SeriesFor(row.provider.empty() ? "none" : row.provider, row.outcome, row.http_status);
  s.requests->Increment();
  if (row.prompt_tokens > 0) s.input_tokens->Increment(static_cast<double>(row.prompt_tokens));
  if (row.completion_tokens > 0) {
    s.output_tokens->Increment(static_cast<double>(row.completion_tokens));
  }
  s.latency->Observe(absl::ToDoubleSeconds(row.latency));
}

}  // namespace clawos::proxy
