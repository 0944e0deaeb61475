// Prometheus /metrics for a daemon: process metrics, per-method gRPC counters
// and latency, and any families the daemon adds to registry().
#pragma once

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace clawos {

class Metrics {
 public:
  // Serves http://`listen`/metrics ("host:port"; port 0 picks one). An empty
  // `listen` or "off" keeps the registry but serves nothing.
  static absl::StatusOr<std::unique_ptr<Metrics>> Start(const std::string& listen);

  prometheus::Registry& registry() { return *registry_; }
  // The bound port, or 0 when not serving.
  int port() const { return port_; }
  // grpc_server_handled_total{grpc_method,grpc_code} and
  // grpc_server_handling_seconds{grpc_method} (grpc_interceptors.h calls it).
  void RecordRpc(const std::string& method, int code, double seconds);
  // Everything in the Prometheus text format (for a daemon that serves
  // /metrics on its own HTTP listener).
  std::string Text() const;
  // Families computed at scrape time (kept alive here).
  void AddCollectable(std::shared_ptr<prometheus::Collectable> c);

 private:
  Metrics() = default;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<prometheus::Collectable> process_;  // the exposer holds only weak_ptrs
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
  prometheus::Family<prometheus::Counter>* handled_ = nullptr;
  prometheus::Family<prometheus::Histogram>* latency_ = nullptr;
  int port_ = 0;
};

}  // namespace clawos
