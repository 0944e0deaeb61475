#include "controlplane/event_feeds.h"

#include <grpcpp/client_context.h>

#include "common/log.h"

namespace clawos::controlplane {

namespace lpb = ::clawos::launcher::v1;
namespace mpb = ::clawos::monitor::v1;

EventFeeds::EventFeeds(Backends& backends, FleetHub& hub) : b_(backends), hub_(hub) {
  threads_.emplace_back([this] {
    Run("launcher", [this](grpc::ClientContext* ctx) {
      lpb::WatchVmsRequest req;
      auto reader = b_.launcher->WatchVms(ctx, req);
      lpb::VmEvent e;
      bool any = false;
      while (reader->Read(&e)) {
        cpb::Event out;
        *out.mutable_vm() = std::move(e);
        hub_.Publish(std::move(out));
        any = true;
      }
      reader->Finish();
      return any;
    });
  });
  if (b_.monitor) {
    threads_.emplace_back([this] {
      Run("monitor", [this](grpc::ClientContext* ctx) {
        mpb::StreamEventsRequest req;
        req.mutable_filter()->set_min_severity(mpb::SEVERITY_LOW);
        auto reader = b_.monitor->StreamEvents(ctx, req);
        mpb::Event e;
        bool any = false;
        while (reader->Read(&e)) {
          cpb::Event out;
          *out.mutable_alert() = std::move(e);
          hub_.Publish(std::move(out));
          any = true;
        }
        reader->Finish();
        return any;
      });
    });
  }
}

EventFeeds::~EventFeeds() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    for (auto* ctx : active_) ctx->TryCancel();
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

bool EventFeeds::Sleep(absl::Duration d) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, absl::ToChronoNanoseconds(d), [this] { return stop_; });
}

void EventFeeds::Run(const char* name, const std::function<bool(grpc::ClientContext*)>& stream) {
  absl::Duration backoff = absl::Milliseconds(200);
  for (;;) {
    grpc::ClientContext ctx;
    ctx.set_wait_for_ready(false);
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      active_.insert(&ctx);
    }
    bool got = stream(&ctx);
    {
      std::lock_guard lock(mu_);
      active_.erase(&ctx);
      if (stop_) return;
    }
    backoff = got ? absl::Milliseconds(200) : std::min(backoff * 2, absl::Seconds(5));
    log::Debug("event feed ended; reconnecting", {{"daemon", name}});
    if (!Sleep(backoff)) return;
  }
}

}  // namespace clawos::controlplane
