// libFuzzer target for the server-sent events splitter (common/http/sse.h)
// that the proxy runs over an upstream's stream and the CLI over the control
// plane's.
//
// Input byte 0 sets the piece size (1..64); the rest is the stream, fed whole
// and again in pieces. Properties checked beside the sanitizers: the events
// (parsed fields and raw bytes) and what is left pending are the same either
// way; the raw blocks followed by the pending bytes are exactly the input
// (nothing lost, nothing added); each raw block ends at its first blank line;
// an event's name and id hold no line break and its data no CR.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/http/sse.h"
#include "test/fuzz/require.h"

namespace {

using namespace clawos::http;

using clawos::fuzz::Require;

struct Seen {
  std::string name, data, id, raw;
  bool operator==(const Seen&) const = default;
};

struct Run {
  std::vector<Seen> events;
  std::string pending;
};

Run Split(const std::string& stream, size_t step) {
  Run r;
  SseSplitter splitter([&](const SseEvent& e, std::string_view raw) {
    r.events.push_back({e.name, e.data, e.id, std::string(raw)});
  });
  std::string error;
  for (size_t off = 0; off < stream.size(); off += step) {
    // Inputs stay far below the 8 MiB bound: every feed must succeed.
    Require(splitter.Feed(std::string_view(stream).substr(off, step), &error));
  }
  r.pending = std::string(splitter.pending());
  return r;
}

// The end of the first blank line in `raw` (as the splitter defines it), or npos.
size_t FirstEventEnd(const std::string& raw) {
  size_t lf = raw.find("\n\n"), crlf = raw.find("\r\n\r\n");
  return std::min(lf == std::string::npos ? lf : lf + 2,
                  crlf == std::string::npos ? crlf : crlf + 4);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string stream(reinterpret_cast<const char*>(data + 1), size - 1);
  Run whole = Split(stream, stream.size() + 1);
  Run pieces = Split(stream, 1 + data[0] % 64);
  Require(whole.events == pieces.events && whole.pending == pieces.pending);
  std::string joined;
  for (const Seen& e : whole.events) {
    Require(FirstEventEnd(e.raw) == e.raw.size());
    Require(e.name.find_first_of("\r\n") == std::string::npos);
    Require(e.id.find_first_of("\r\n") == std::string::npos);
    Require(e.data.find('\r') == std::string::npos);
    joined += e.raw;
  }
  Require(FirstEventEnd(whole.pending) == std::string::npos);
  Require(joined + whole.pending == stream);
  return 0;
}
