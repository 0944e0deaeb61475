// libFuzzer target for the HTTP/1.1 parsing in plain C++ (common/http/http1.h)
// that the guest agent's inference endpoint, the launcher's tunnel and the
// Firecracker client use, and the request target's query parsing
// (common/http/query.h) of the control plane.
//
// Input byte 0 % 4 picks the mode; the rest is the wire:
//   0: a request head (ParseRequestHead);
//   1: a response head (ParseResponseHead);
//   2: a chunked body, decoded whole and again in pieces (ChunkedDecoder);
//   3: a request target "path?a=1&b=x%20y" (ParseTarget).
// Properties checked beside the sanitizers: a parsed head is what the contract
// says (method a token, target "/...", version "HTTP/1.", status 100..599, at
// most 100 headers with token names and trimmed values, consumed within the
// 64 KiB bound) and parses the same from exactly its own bytes, one byte short
// of which it needs more; a chunked body decodes the same whole or in pieces,
// never to more bytes than came in; a target's path and query never hold
// more bytes than the target.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/http/http1.h"
#include "common/http/query.h"
#include "test/fuzz/require.h"

namespace {

using namespace clawos::http;

using clawos::fuzz::Require;

bool Trimmed(const std::string& v) {
  return v.empty() ||
         (v.front() != ' ' && v.front() != '\t' && v.back() != ' ' && v.back() != '\t');
}

void CheckHead(const std::string& wire, bool request) {
  auto parse = request ? ParseRequestHead : ParseResponseHead;
  Head h;
  size_t used = 0;
  std::string error;
  Parse p = parse(wire, &h, &used, &error);
  if (p == Parse::kError) {
    Require(!error.empty());
    return;
  }
  if (p == Parse::kNeedMore) {
    Require(wire.size() <= kMaxHeadBytes);
    return;
  }
  Require(used >= 4 && used <= wire.size() && used <= kMaxHeadBytes);
  Require(wire.compare(used - 4, 4, "\r\n\r\n") == 0);
  Require(h.headers.size() <= 100);
  for (const auto& [name, value] : h.headers) Require(IsToken(name) && Trimmed(value));
  if (request) {
    Require(IsToken(h.method) && !h.target.empty() && h.target[0] == '/');
    Require(h.version.rfind("HTTP/1.", 0) == 0);
  } else {
    Require(h.status >= 100 && h.status <= 599 && h.version.rfind("HTTP/1.", 0) == 0);
  }
  // The same head from exactly its bytes; one byte short it needs more.
  Head again;
  size_t used_again = 0;
  Require(parse(wire.substr(0, used), &again, &used_again, &error) == Parse::kDone);
  Require(used_again == used && again.headers == h.headers && again.method == h.method &&
          again.target == h.target && again.status == h.status && again.reason == h.reason);
  Require(parse(wire.substr(0, used - 1), &again, &used_again, &error) == Parse::kNeedMore);
}

struct Decoded {
  bool ok = true;
  bool done = false;
  std::string out;
};

// Feeds `wire` in pieces of `step` bytes (0: all at once), stopping at an error.
Decoded Decode(const std::string& wire, size_t step) {
  ChunkedDecoder d;
  Decoded r;
  std::string error;
  if (step == 0) step = wire.size() + 1;
  for (size_t off = 0; off < wire.size() && r.ok; off += step) {
    size_t n = std::min(step, wire.size() - off);
    r.ok = d.Feed(wire.data() + off, n, &r.out, &error);
    if (!r.ok) Require(!error.empty());
  }
  r.done = d.done();
  return r;
}

void CheckChunked(const std::string& wire, size_t step) {
  Decoded whole = Decode(wire, 0);
  Decoded pieces = Decode(wire, step);
  Require(whole.ok == pieces.ok && whole.done == pieces.done && whole.out == pieces.out);
  Require(whole.out.size() <= wire.size());
  Require(!(whole.done && !whole.ok));
}

void CheckTarget(const std::string& target) {
  auto t = ParseTarget(target);
  if (!t.ok()) return;
  size_t bytes = t->path.size();
  for (const auto& [k, v] : t->query) bytes += k.size() + v.size();
  Require(bytes <= target.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 4) {
    case 0:
      CheckHead(rest, true);
      break;
    case 1:
      CheckHead(rest, false);
      break;
    case 2:
      // The piece size comes from byte 0 too, so the fuzzer varies it.
      CheckChunked(rest, 1 + data[0] / 4 % 8);
      break;
    default:
      CheckTarget(rest);
  }
  return 0;
}
