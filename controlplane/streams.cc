// The streamed answers: a daemon's server stream as NDJSON or SSE, as its
// method's (clawos.api.v1.stream) says (exec output, VM logs, the fleet's and
// a workflow's events). Each holds a stream slot (stream_slots.h) while it lasts, re-checks
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
#include "common/grpc_generic.h"
#include "common/grpc_status.h"
#include "common/proto_json.h"
#include "common/request_id.h"
#include "common/rest/transcode.h"
#include "controlplane/api.h"
#include "controlplane/api_call.h"

namespace clawos::controlplane {

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

namespace {

// One message as an SSE event: its id (id_field, when set and not 0), its
// name (the stream's `event`, or the set field of `event_oneof`) and its data
// (the message, or that field).
absl::StatusOr<std::string> SseOf(const rest::Binding& b, const google::protobuf::Message& m) {
  const auto& opt = b.stream;
  const auto* d = m.GetDescriptor();
  const auto* r = m.GetReflection();
  std::string id;
  if (const auto* f = d->FindFieldByName(opt.id_field()); f && !f->is_repeated()) {
    int64_t v = 0;
    switch (f->cpp_type()) {
      case google::protobuf::FieldDescriptor::CPPTYPE_INT64:
        v = r->GetInt64(m, f);
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_UINT64:
        v = static_cast<int64_t>(r->GetUInt64(m, f));
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_INT32:
        v = r->GetInt32(m, f);
        break;
      default:
        break;
    }
    if (v != 0) id = std::to_string(v);
  }
  if (opt.event_oneof().empty()) {
    auto json = TryToJson(m);
    if (!json.ok()) return json.status();
    return Sse(id, opt.event().empty() ? "message" : opt.event(), *json);
  }
  const auto* oneof = d->FindOneofByName(opt.event_oneof());
  const auto* set = oneof ? r->GetOneofFieldDescriptor(m, oneof) : nullptr;
  if (!set || set->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
    return absl::InternalError("a stream message with no event set");
  }
  auto json = TryToJson(r->GetMessage(m, set));
  if (!json.ok()) return json.status();
  return Sse(id, set->name(), *json);
}

}  // namespace

// A daemon's server stream as NDJSON or SSE. The stream's answer begins when
// the daemon accepted the call (AcceptStream) or sent its first message, so
// that a call that fails at once (an unknown name, a bad state) is a plain
// error answer, not a stream. Then: SSE's `retry:`, one line or event per
// message, keep-alives that re-check the caller's token, and, when the
// daemon's stream fails, a last error line or event.
void Api::ServeStream(Call& c) {
  StreamSlots::Slot slot;
  if (!TakeSlot(c, &slot)) return;
  const rest::Binding& b = c.binding();
  auto req = NewMessage(b.method->input_type());
  if (!MakeRequest(c, req.get())) return;
  auto channel = ChannelFor(c);
  if (!channel) return;
  grpc::ClientContext ctx;  // no deadline: the stream ends with its client or its daemon
  ctx.AddMetadata(kRequestIdHeader, c.request_id);
  ActiveCall active(*this, &ctx);
  ServerStream stream(channel, b.method, &ctx, *req);
  auto msg = NewMessage(b.method->output_type());
  bool first = false;
  if (!stream.WaitAccepted()) {
    first = stream.Next(msg.get());
    if (!first) {
      absl::Status end = stream.Finish();
      if (!end.ok()) return c.Error(end);
    }
  }
  const bool sse = b.stream.format() == api::v1::RestStream::SSE;
  if (!c.StartStream(sse ? "text/event-stream" : "application/x-ndjson")) {
    ctx.TryCancel();
    return;
  }
  StreamWriter w(c.sink, &ctx);
  auto error = [&](const absl::Status& s) {
    return sse ? Sse("", "error", ErrorBody(s)) : absl::StrCat("{\"error\":", ErrorBody(s), "}\n");
  };
  const api::v1::Access visible = c.visible();
  auto write = [&](google::protobuf::Message& m) {
    rest::ClearHidden(visible, &m);
    auto text = sse ? SseOf(b, m) : TryToJson(m);
    if (!text.ok()) {
      w.Stop(error(text.status()));
      return false;
    }
    return w.Write(sse ? *text : *text + "\n");
  };
  bool ok = !sse || w.Write("retry: 3000\n\n");
  if (ok && first) ok = write(*msg);
  {
    // NDJSON readers skip blank lines; SSE readers skip comments.
    KeepAlive ka(
        w, StreamClock(options_.keepalive, options_.recheck), sse ? ": keep-alive\n\n" : "\n",
        [&] { return StillAllowed(c); }, error(kDenied));
    while (ok && stream.Next(msg.get())) ok = write(*msg);
  }
  absl::Status end = stream.Finish();
  if (ok && !end.ok() && end.code() != absl::StatusCode::kCancelled) w.Write(error(end));
  w.End();
}

}  // namespace clawos::controlplane
