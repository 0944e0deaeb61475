// The streamed answers: exec output (NDJSON), VM logs and the event feeds
// (SSE). Each holds a stream slot (stream_slots.h) while it lasts, re-checks
// the caller's token every --stream-recheck whether or not it is busy (a
// token revoked or expired ends it with a last error), and writes keep-alives
// while idle so that it notices a client that went away.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_client.h"
#include "common/grpc_status.h"
#include "common/request_id.h"
#include "controlplane/api.h"
#include "controlplane/api_call.h"

namespace clawos::controlplane {

namespace lpb = ::clawos::launcher::v1;
namespace opb = ::clawos::orchestrator::v1;

namespace {

// Writes to a stream from the reading thread and from a keep-alive thread.
class StreamWriter {
 public:
  StreamWriter(http::ResponseSink& sink, grpc::ClientContext* ctx) : sink_(sink), ctx_(ctx) {}
  bool Write(const std::string& data) {
    std::lock_guard lock(mu_);
    if (stopped_) return false;
    if (!sink_.Body(data)) {
      client_gone_ = stopped_ = true;
      if (ctx_) ctx_->TryCancel();  // end the daemon's stream too
    }
    return !stopped_;
  }
  // Writes `last` and stops the stream (the caller's token no longer holds);
  // End() then closes it properly.
  void Stop(const std::string& last) {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    if (!sink_.Body(last)) client_gone_ = true;
    stopped_ = true;
    if (ctx_) ctx_->TryCancel();
  }
  bool stopped() {
    std::lock_guard lock(mu_);
    return stopped_;
  }
  void End() {
    std::lock_guard lock(mu_);
    if (!client_gone_) sink_.End();
  }

 private:
  http::ResponseSink& sink_;
  grpc::ClientContext* ctx_;
  std::mutex mu_;
  bool stopped_ = false;
  bool client_gone_ = false;
};

const absl::Status kDenied =
    absl::UnauthenticatedError("the token no longer holds (expired or revoked)");

// When a stream's next token check and keep-alive are due. The token is
// re-checked every `recheck` whether or not the stream is busy; a keep-alive
// goes out when nothing was written for `keepalive`.
class StreamClock {
 public:
  StreamClock(absl::Duration keepalive, absl::Duration recheck)
      : keepalive_(keepalive),
        recheck_(recheck),
        next_check_(absl::Now() + recheck),
        next_keepalive_(absl::Now() + keepalive) {}
  absl::Duration UntilNext() const {
    return std::max(absl::ZeroDuration(), std::min(next_check_, next_keepalive_) - absl::Now());
  }
  bool CheckDue() {
    if (absl::Now() < next_check_) return false;
    next_check_ = absl::Now() + recheck_;
    return true;
  }
  bool KeepAliveDue() const { return absl::Now() >= next_keepalive_; }
  void Wrote() { next_keepalive_ = absl::Now() + keepalive_; }

 private:
  const absl::Duration keepalive_, recheck_;
  absl::Time next_check_, next_keepalive_;
};

// While a stream reads from its daemon (on another thread): re-checks the
// caller's token on the clock, ending the stream with `denied` when it no
// longer holds, and writes `text` as a keep-alive (so a client that left is
// noticed).
class KeepAlive {
 public:
  KeepAlive(StreamWriter& w, StreamClock clock, std::string text,
            std::function<bool()> still_allowed, std::string denied)
      : thread_([this, &w, clock, text = std::move(text), still_allowed,
                 denied = std::move(denied)]() mutable {
          std::unique_lock lock(mu_);
          while (!stop_) {
            auto wait = absl::ToChronoNanoseconds(clock.UntilNext());
            if (cv_.wait_for(lock, wait, [this] { return stop_; })) break;
            lock.unlock();
            bool ok = true;
            if (clock.CheckDue() && !still_allowed()) {
              w.Stop(denied);
              ok = false;
            }
            if (ok && clock.KeepAliveDue()) {
              ok = w.Write(text);
              clock.Wrote();
            }
            lock.lock();
            if (!ok) break;
          }
        }) {}
  ~KeepAlive() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

std::string Sse(const std::string& id, const std::string& event, const std::string& data) {
  std::string out;
  if (!id.empty()) absl::StrAppend(&out, "id: ", id, "\n");
  absl::StrAppend(&out, "event: ", event, "\ndata: ", data, "\n\n");
  return out;
}

}  // namespace

void Api::ExecVm(Call& c) {
  StreamSlots::Slot slot;
  if (!TakeSlot(c, &slot)) return;
  lpb::ExecVmRequest req;
  if (auto s = ToRequest(c.input(), &req); !s.ok()) return c.Error(s);
  grpc::ClientContext ctx;  // no deadline: the command's own timeout bounds it
  ctx.AddMetadata(kRequestIdHeader, c.request_id);
  ActiveCall active(*this, &ctx);
  auto reader = b_.launcher->ExecVm(&ctx, req);
  lpb::ExecVmResponse msg;
  // The first message decides between an error answer and a stream.
  if (!reader->Read(&msg)) {
    absl::Status s = FromGrpcStatus(reader->Finish());
    return c.Error(s.ok() ? absl::InternalError("the launcher ended the exec without an answer")
                          : s);
  }
  if (!c.StartStream("application/x-ndjson")) {
    ctx.TryCancel();
    reader->Finish();
    return;
  }
  StreamWriter w(c.sink, &ctx);
  bool ok = w.Write(ToJson(msg) + "\n");
  {
    // Blank lines (NDJSON readers skip them) while the command is silent.
    KeepAlive ka(
        w, StreamClock(options_.keepalive, options_.recheck), "\n", [&] { return StillAllowed(c); },
        absl::StrCat("{\"error\":", ErrorBody(kDenied), "}\n"));
    while (ok && reader->Read(&msg)) ok = w.Write(ToJson(msg) + "\n");
  }
  absl::Status end = FromGrpcStatus(reader->Finish());
  if (ok && !end.ok()) {
    // grpc-gateway's way to end a stream with an error: one last line.
    w.Write(absl::StrCat("{\"error\":", ErrorBody(end), "}\n"));
  }
  w.End();
}

void Api::VmLogs(Call& c) {
  StreamSlots::Slot slot;
  if (!TakeSlot(c, &slot)) return;
  lpb::StreamVmLogsRequest req;
  if (auto s = ToRequest(c.input(), &req); !s.ok()) return c.Error(s);
  // An unknown VM is a plain 404, before the stream begins (which may then
  // wait long for its first line).
  {
    lpb::GetVmRequest get;
    get.set_name(req.name());
    lpb::Vm vm;
    absl::Status s =
        CallStub(*b_.launcher, &lpb::LauncherService::Stub::GetVm, get, &vm, options_.call_timeout);
    if (!s.ok()) return c.Error(s);
  }
  StreamSse<lpb::LogEntry>(
      c, [&](grpc::ClientContext* ctx) { return b_.launcher->StreamVmLogs(ctx, req); },
      [](const lpb::LogEntry& e) { return Sse(std::to_string(e.sequence()), "log", ToJson(e)); });
}

template <typename Msg>
void Api::StreamSse(
    Call& c,
    const std::function<std::unique_ptr<grpc::ClientReader<Msg>>(grpc::ClientContext*)>& open,
    const std::function<std::string(const Msg&)>& event, bool first_decides) {
  grpc::ClientContext ctx;
  ctx.AddMetadata(kRequestIdHeader, c.request_id);
  ActiveCall active(*this, &ctx);
  std::unique_ptr<grpc::ClientReader<Msg>> reader;
  Msg first;
  if (first_decides) {
    reader = open(&ctx);
    if (!reader->Read(&first)) {
      absl::Status end = FromGrpcStatus(reader->Finish());
      return c.Error(end.ok() ? absl::InternalError("the stream ended before its first message")
                              : end);
    }
  }
  if (!c.StartStream("text/event-stream")) return;
  StreamWriter w(c.sink, &ctx);
  bool ok = w.Write("retry: 3000\n\n");
  if (first_decides) {
    ok = ok && w.Write(event(first));
  } else {
    reader = open(&ctx);
  }
  {
    KeepAlive ka(
        w, StreamClock(options_.keepalive, options_.recheck), ": keep-alive\n\n",
        [&] { return StillAllowed(c); }, Sse("", "error", ErrorBody(kDenied)));
    Msg m;
    while (ok && reader->Read(&m)) ok = w.Write(event(m));
  }
  absl::Status end = FromGrpcStatus(reader->Finish());
  if (ok && !end.ok() && end.code() != absl::StatusCode::kCancelled) {
    w.Write(Sse("", "error", ErrorBody(end)));
  }
  w.End();
}

// GET /v1/workflows/{workflow}/events: the orchestrator's WatchWorkflow as
// SSE "workflow" events (the workflow now, then one per change); the stream
// ends after the workflow's final event.
void Api::WorkflowEvents(Call& c) {
  StreamSlots::Slot slot;
  if (!TakeSlot(c, &slot)) return;
  opb::WatchWorkflowRequest req;
  if (auto s = ToRequest(c.input(), &req); !s.ok()) return c.Error(s);
  if (!b_.orchestrator) return c.Error(absl::UnavailableError("orchestrator is not configured"));
  // WatchWorkflow sends the workflow at once: an unknown one is a plain 404.
  StreamSse<opb::WorkflowEvent>(
      c, [&](grpc::ClientContext* ctx) { return b_.orchestrator->WatchWorkflow(ctx, req); },
      [](const opb::WorkflowEvent& e) { return Sse("", "workflow", ToJson(e)); },
      /*first_decides=*/true);
}

void Api::Events(Call& c) {
  auto given = EventsAfter(c.input());
  if (!given.ok()) return c.Error(given.status());
  StreamSlots::Slot slot;
  if (!TakeSlot(c, &slot)) return;
  const int64_t newest = hub_.Last();
  // A new client gets what happens from now on.
  int64_t after = given->has_value() ? **given : newest;
  if (!c.StartStream("text/event-stream")) return;
  StreamWriter w(c.sink, nullptr);
  if (!w.Write("retry: 3000\n\n")) return;
  if (after > newest) {  // an id from the future (a clock that went back): start afresh
    if (!w.Write(Sse("", "gap", R"({"message":"the Last-Event-ID is unknown here"})"))) return;
    after = newest;
  }
  // Busy or idle, the token is re-checked on the clock between batches.
  StreamClock clock(options_.keepalive, options_.recheck);
  for (;;) {
    EventHub::Batch b = hub_.Since(after, clock.UntilNext());
    if (b.gap) {
      if (!w.Write(Sse("", "gap",
                       absl::StrCat(R"({"message":"events after id )", after,
                                    R"( were dropped before this client came back"})")))) {
        return;
      }
    }
    for (const auto& e : b.events) {
      if (!w.Write(Sse(std::to_string(e.id), e.type, e.json))) return;
      after = e.id;
    }
    if (!b.events.empty()) clock.Wrote();
    if (b.closed) break;
    if (clock.CheckDue() && !StillAllowed(c)) {
      w.Stop(Sse("", "error", ErrorBody(kDenied)));
      break;
    }
    if (clock.KeepAliveDue()) {
      if (!w.Write(": keep-alive\n\n")) return;
      clock.Wrote();
    }
  }
  w.End();
}

}  // namespace clawos::controlplane
