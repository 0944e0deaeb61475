// Prometheus families of the data path, fed once per finished request from
// the same row the ledger gets: requests by provider and outcome, tokens by
// provider and direction, request latency, and requests in flight. The
// series a request touches are looked up once per (provider, outcome,
// status) and kept, so a request costs one shared-lock lookup, not four
// label-map builds under the families' locks.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "inference-proxy/ledger.h"

namespace clawos::proxy {

class ProxyMetrics {
 public:
  explicit ProxyMetrics(prometheus::Registry& registry);

  void Started() { in_flight_->Increment(); }
  void Finished(const LedgerRow& row);

 private:
  struct Series {
    prometheus::Counter* requests;
    prometheus::Counter* input_tokens;
    prometheus::Counter* output_tokens;
    prometheus::Histogram* latency;
  };
  const Series& SeriesFor(const std::string& provider, Outcome outcome, int status);

  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Counter>* tokens_;
  prometheus::Family<prometheus::Histogram>* latency_;
  prometheus::Gauge* in_flight_;
  std::shared_mutex mu_;
  std::unordered_map<std::string, Series> series_;  // "provider outcome status"
};

}  // namespace clawos::proxy
