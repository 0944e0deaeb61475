// HTTP/1.1 message heads and chunked bodies, parsed incrementally. Plain C++
// (no Abseil, no sockets) so the static in-guest agent links it as well as
// the daemons. Bounded: a head over 64 KiB or 100 headers is an error. Strict:
// a head with a bare CR or LF or a NUL (in a header value, the request line or
// anywhere) is an error, and so is a chunk size that is not 1 to 16 hex
// digits (optionally followed by ";" extensions).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace clawos::http {

inline constexpr size_t kMaxHeadBytes = 64 << 10;

struct Head {
  // Requests.
  std::string method;
  std::string target;
  // Responses.
  int status = 0;
  std::string reason;
  std::string version;  // "HTTP/1.1"
  std::vector<std::pair<std::string, std::string>> headers;

  // The first header named `name` (case-insensitive), or "".
  std::string Get(const std::string& name) const;
  bool Has(const std::string& name) const;
};

enum class Parse { kNeedMore, kDone, kError };

// Parses the head at the start of `buf`; on kDone sets `consumed` to its
// length (the body follows). kError sets `error`.
Parse ParseRequestHead(const std::string& buf, Head* out, size_t* consumed, std::string* error);
Parse ParseResponseHead(const std::string& buf, Head* out, size_t* consumed, std::string* error);

// An RFC 9110 token (a method, a header name).
bool IsToken(const std::string& s);
// A request id fit to copy into a header or a log: 1-128 of [A-Za-z0-9._-].
bool IsSafeRequestId(const std::string& s);
// The first header named `name` (case-insensitive) in `headers`, or "".
std::string FindHeader(const std::vector<std::pair<std::string, std::string>>& headers,
                       const std::string& name);

// Connection-level headers that a proxy must not forward (RFC 9110 7.6.1).
bool IsHopByHop(const std::string& name);
bool EqualsIgnoreCase(const std::string& a, const std::string& b);
// "200 OK"-style reason phrase for common codes.
const char* ReasonPhrase(int status);

// Decodes a chunked body; trailers are read and dropped.
class ChunkedDecoder {
 public:
  // Appends decoded bytes to `out`; false (with `error`) on malformed input.
  bool Feed(const char* data, size_t n, std::string* out, std::string* error);
  bool done() const { return state_ == State::kDone; }

 private:
  enum class State { kSize, kData, kDataEnd, kTrailer, kDone };
  State state_ = State::kSize;
  std::string line_;
  uint64_t left_ = 0;
};

}  // namespace clawos::http
