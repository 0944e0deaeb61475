// Feeds the EventHub from the daemons: the launcher's VM lifecycle
// (WatchVms) and the monitor's alerts (events a policy rule raised: severity
// LOW and above). Each feed reconnects with backoff when its daemon goes
// away, so a restarted daemon is picked up again.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "controlplane/api.h"
#include "controlplane/events_service.h"

namespace grpc {
class ClientContext;
}

namespace clawos::controlplane {

class EventFeeds {
 public:
  EventFeeds(Backends& backends, FleetHub& hub);
  ~EventFeeds();
  EventFeeds(const EventFeeds&) = delete;

 private:
  void Run(const char* name, const std::function<bool(grpc::ClientContext*)>& stream);
  bool Sleep(absl::Duration d);  // false when stopping

  Backends& b_;
  FleetHub& hub_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::set<grpc::ClientContext*> active_;
  std::vector<std::thread> threads_;
};

}  // namespace clawos::controlplane
