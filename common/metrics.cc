#include "common/metrics.h"

#include <prometheus/text_serializer.h>

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace clawos {
namespace {

// process_* metrics read from /proc/self, in the names the Prometheus client
// libraries use.
class ProcessCollector : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    auto gauge = [&](const char* name, const char* help, double v, prometheus::MetricType t) {
      prometheus::MetricFamily f;
      f.name = name;
      f.help = help;
      f.type = t;
      prometheus::ClientMetric m;
      if (t == prometheus::MetricType::Counter) {
        m.counter.value = v;
      } else {
        m.gauge.value = v;
      }
      f.metric.push_back(m);
      out.push_back(std::move(f));
    };
    std::ifstream stat("/proc/self/stat");
    std::string line;
    std::getline(stat, line);
    // Fields after the ")" of comm: state is field 3.
    size_t close = line.rfind(')');
    std::vector<std::string> f = close == std::string::npos
                                     ? std::vector<std::string>{}
                                     : absl::StrSplit(line.substr(close + 2), ' ');
    double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    if (f.size() > 22) {
      double utime = std::stod(f[11]), stime = std::stod(f[12]);
      gauge("process_cpu_seconds_total", "User and system CPU time in seconds.",
            (utime + stime) / ticks, prometheus::MetricType::Counter);
      gauge("process_resident_memory_bytes", "Resident memory size in bytes.",
            std::stod(f[21]) * page, prometheus::MetricType::Gauge);
      gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", std::stod(f[20]),
            prometheus::MetricType::Gauge);
      double starttime = std::stod(f[19]) / ticks;
      std::ifstream up("/proc/stat");
      std::string l;
      while (std::getline(up, l)) {
        if (l.rfind("btime ", 0) == 0) {
          gauge("process_start_time_seconds", "Start time since the epoch in seconds.",
                std::stod(l.substr(6)) + starttime, prometheus::MetricType::Gauge);
        }
      }
    }
    int fds = 0;
    if (DIR* d = opendir("/proc/self/fd")) {
      while (readdir(d)) ++fds;
      closedir(d);
      fds -= 2;
    }
    gauge("process_open_fds", "Open file descriptors.", fds, prometheus::MetricType::Gauge);
    return out;
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<Metrics>> Metrics::Start(const std::string& listen) {
  std::unique_ptr<Metrics> m(new Metrics);
  m->registry_ = std::make_shared<prometheus::Registry>();
  m->handled_ = &prometheus::BuildCounter()
                     .Name("grpc_server_handled_total")
                     .Help("RPCs completed on the server, by method and status code.")
                     .Register(*m->registry_);
  m->latency_ = &prometheus::BuildHistogram()
                     .Name("grpc_server_handling_seconds")
                     .Help("Time from receiving an RPC to sending its status.")
                     .Register(*m->registry_);
  if (!listen.empty() && listen != "off") {
    try {
      m->exposer_ = std::make_unique<prometheus::Exposer>(listen, 2);
    } catch (const std::exception& e) {
      return absl::UnavailableError(
          absl::StrCat("cannot serve metrics on ", listen, ": ", e.what()));
    }
    m->exposer_->RegisterCollectable(m->registry_);
    m->process_ = std::make_shared<ProcessCollector>();
    m->exposer_->RegisterCollectable(m->process_);
    auto ports = m->exposer_->GetListeningPorts();
    m->port_ = ports.empty() ? 0 : ports.front();
  }
  return m;
}

std::string Metrics::Text() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  std::vector<std::shared_ptr<prometheus::Collectable>> more = collectables_;
  more.push_back(process_ ? process_ : std::make_shared<ProcessCollector>());
  for (const auto& c : more) {
    auto f = c->Collect();
    families.insert(families.end(), f.begin(), f.end());
  }
  return prometheus::TextSerializer().Serialize(families);
}

void Metrics::AddCollectable(std::shared_ptr<prometheus::Collectable> c) {
  collectables_.push_back(c);
  if (exposer_) exposer_->RegisterCollectable(c);
}

void Metrics::RecordRpc(const std::string& method, int code, double seconds) {
  handled_
      ->Add({{"grpc_method", method},
             {"grpc_code", absl::StatusCodeToString(static_cast<absl::StatusCode>(code))}})
      .Increment();
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5};
  latency_->Add({{"grpc_method", method}}, kBuckets).Observe(seconds);
}

}  // namespace clawos
