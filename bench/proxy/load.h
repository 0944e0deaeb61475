// Load for bench_proxy: keep-alive HTTP/1.1 clients (Boost.Beast, blocking)
// that send one fixed request again and again. Latency runs one client
// sequentially and keeps every round trip; throughput runs several clients
// for a fixed time and counts answers.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace clawos::bench {

struct Target {
  std::string name;
  int port = 0;
  std::string path;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct LatencyResult {
  std::vector<double> micros;  // sorted
  int errors = 0;
  double Percentile(double p) const;
};

struct ThroughputResult {
  double requests_per_second = 0;
  long answered = 0;
  int errors = 0;
};

// `warmup` untimed requests, then `n` timed ones over one connection.
LatencyResult MeasureLatency(const Target& t, int n, int warmup);
// `connections` clients in parallel for `seconds`.
ThroughputResult MeasureThroughput(const Target& t, int connections, double seconds);

}  // namespace clawos::bench
