// Prometheus families of the data path, fed once per finished request from
// the same row the ledger gets: requests by provider and outcome, tokens by
// provider and direction, request latency, and requests in flight.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "inference-proxy/ledger.h"

namespace clawos::proxy {

class ProxyMetrics {
 public:
  explicit ProxyMetrics(prometheus::Registry& registry);

  void Started() { in_flight_->Increment(); }
  void Finished(const LedgerRow& row);

 private:
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Counter>* tokens_;
  prometheus::Family<prometheus::Histogram>* latency_;
  prometheus::Gauge* in_flight_;
};

}  // namespace clawos::proxy
