#include "controlplane/events_service.h"

#include "absl/strings/str_cat.h"
#include "common/grpc_generic.h"

namespace clawos::controlplane {
namespace {

cpb::Event Gap(std::string message) {
  cpb::Event e;
  e.mutable_gap()->set_message(std::move(message));
  return e;
}

}  // namespace

grpc::Status EventsService::WatchEvents(grpc::ServerContext* ctx,
                                        const cpb::WatchEventsRequest* req,
                                        grpc::ServerWriter<cpb::Event>* writer) {
  const int64_t newest = hub_.Last();
  // A new client gets what happens from now on.
  int64_t after = req->has_after() ? req->after() : newest;
  AcceptStream(ctx, writer);
  if (after > newest) {  // an id from the future (a clock that went back): start afresh
    if (!writer->Write(Gap("the Last-Event-ID is unknown here"))) return grpc::Status::OK;
    after = newest;
  }
  while (!ctx->IsCancelled()) {
    FleetHub::Batch b = hub_.Since(after, poll_);
    if (b.gap && !writer->Write(Gap(absl::StrCat("events after id ", after,
                                                 " were dropped before this client came back")))) {
      break;
    }
    for (auto& [id, e] : b.events) {
      e.set_id(id);
      if (!writer->Write(e)) return grpc::Status::OK;
      after = id;
    }
    if (b.closed) break;
  }
  return grpc::Status::OK;
}

}  // namespace clawos::controlplane
