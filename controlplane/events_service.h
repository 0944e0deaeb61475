// clawos.controlplane.v1.ControlPlaneService, served in process: the fleet's
// events (VM lifecycle, monitor alerts) from the hub that EventFeeds fills,
// resumable by id. The REST transcoder writes it as GET /v1/events (SSE).
#pragma once

#include "clawos/controlplane/v1/controlplane.grpc.pb.h"
#include "common/event_hub.h"

namespace clawos::controlplane {

namespace cpb = ::clawos::controlplane::v1;

// Events without their id (the hub gives it).
using FleetHub = EventHub<cpb::Event>;

class EventsService final : public cpb::ControlPlaneService::Service {
 public:
  // `poll`: how often an idle stream looks whether its client left.
  explicit EventsService(FleetHub& hub, absl::Duration poll = absl::Seconds(1))
      : hub_(hub), poll_(poll) {}

  grpc::Status WatchEvents(grpc::ServerContext* ctx, const cpb::WatchEventsRequest* req,
                           grpc::ServerWriter<cpb::Event>* writer) override;

 private:
  FleetHub& hub_;
  const absl::Duration poll_;
};

}  // namespace clawos::controlplane
