// Server-sent events, split as they stream: each block is handed over with
// its raw bytes (so the proxy can pass it on unchanged, or drop it) and its
// parsed `id:`, `event:` name and joined `data:` lines; comments
// (": keep-alive") and `retry:` are skipped, so a comment-only block comes
// with an empty name and data. Bounded: an event over 8 MiB is an error.
// The proxy's pass-through, the CLI's REST streams and tests use it.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace clawos::http {

struct SseEvent {
  std::string name;  // `event:`; empty for the default "message"
  std::string data;  // `data:` lines joined with '\n'
  std::string id;    // `id:`; empty when the block has none
};

class SseSplitter {
 public:
  using Sink = std::function<void(const SseEvent& event, std::string_view raw)>;
  explicit SseSplitter(Sink sink) : sink_(std::move(sink)) {}
  // False (with `error`) when an event grows past the bound.
  bool Feed(std::string_view bytes, std::string* error);
  // What is left when the stream ends (an unterminated last event).
  std::string_view pending() const { return buffer_; }

 private:
  Sink sink_;
  std::string buffer_;
};

}  // namespace clawos::http
