// Prometheus families of the monitor, read at scrape time from Stats and
// the sinks: events made and lost (ring buffer, streams), system calls and
// events per target, and each sink's written, dropped and queued events.
#pragma once

#include <prometheus/collectable.h>

#include "monitor/monitor.h"

namespace clawos::monitor {

class MonitorCollector : public prometheus::Collectable {
 public:
  explicit MonitorCollector(Monitor& m) : m_(m) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  Monitor& m_;
};

}  // namespace clawos::monitor
