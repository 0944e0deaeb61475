#include "monitor/monitor_metrics.h"

#include <prometheus/metric_family.h>

namespace clawos::monitor {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily Family(const char* name, const char* help, MetricType type) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

void Add(MetricFamily& f, double v, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter) {
    m.counter.value = v;
  } else {
    m.gauge.value = v;
  }
  f.metric.push_back(std::move(m));
}

}  // namespace

std::vector<MetricFamily> MonitorCollector::Collect() const {
  std::vector<MetricFamily> out;
  auto stats = m_.GetStats({});
  if (stats.ok()) {
    auto events =
        Family("clawos_monitor_events_total", "Detailed events made.", MetricType::Counter);
    Add(events, static_cast<double>(stats->events_total()));
    auto lost = Family("clawos_monitor_events_lost_total",
                       "Events lost before user space (ring buffer full), all targets.",
                       MetricType::Counter);
    Add(lost, static_cast<double>(stats->ring_buffer_drops()));
    auto stream = Family("clawos_monitor_stream_events_lost_total",
                         "Events slow StreamEvents clients lost.", MetricType::Counter);
    Add(stream, static_cast<double>(stats->stream_drops()));
    auto targets = Family("clawos_monitor_targets", "Targets.", MetricType::Gauge);
    Add(targets, stats->targets_size());
    auto calls = Family("clawos_monitor_syscalls_total",
                        "System calls counted in the kernel, by target.", MetricType::Counter);
    auto temitted = Family("clawos_monitor_target_events_total", "Detailed events, by target.",
                           MetricType::Counter);
    auto tlost = Family("clawos_monitor_target_events_lost_total",
                        "Events lost in the kernel, by target.", MetricType::Counter);
    for (const auto& t : stats->targets()) {
      std::vector<ClientMetric::Label> l = {{"target", t.target()}, {"vm", t.vm()}};
      Add(calls, static_cast<double>(t.syscalls_total()), l);
      Add(temitted, static_cast<double>(t.events_emitted()), l);
      Add(tlost, static_cast<double>(t.events_dropped()), l);
    }
    for (auto* f : {&events, &lost, &stream, &targets, &calls, &temitted, &tlost}) {
      out.push_back(std::move(*f));
    }
  }
  auto written =
      Family("clawos_monitor_sink_events_total", "Events written, by sink.", MetricType::Counter);
  auto dropped = Family("clawos_monitor_sink_events_dropped_total", "Events dropped, by sink.",
                        MetricType::Counter);
  auto queued =
      Family("clawos_monitor_sink_queue_depth", "Events waiting, by sink.", MetricType::Gauge);
  for (const auto& s : m_.Sinks()) {
    std::vector<ClientMetric::Label> l = {{"sink", s.name()}};
    Add(written, static_cast<double>(s.events_written()), l);
    Add(dropped, static_cast<double>(s.events_dropped()), l);
    Add(queued, static_cast<double>(s.queue_depth()), l);
  }
  for (auto* f : {&written, &dropped, &queued}) out.push_back(std::move(*f));
  return out;
}

}  // namespace clawos::monitor
