// Framing of the agent channel (clawos.agent.v1), shared by the in-guest agent
// and the launcher: a 4-byte big-endian length, then a serialized Frame of
// 1..1 MiB. Plain C++ and libprotobuf only, so the static agent can link it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "clawos/agent/v1/agent.pb.h"

namespace clawos::agent {

namespace pb = ::clawos::agent::v1;

inline constexpr uint32_t kMaxFrameBytes = 1 << 20;
inline constexpr size_t kMaxChunkBytes = 512 << 10;

// The frame with its length prefix; "" when it serializes to nothing or to
// more than kMaxFrameBytes (the caller's bug: chunks are bounded).
std::string EncodeFrame(const pb::Frame& frame);

// Splits a byte stream into frames. Once it reports an error (a length
// outside 1..kMaxFrameBytes) the stream is unusable (the connection must be
// dropped). A frame whose length is fine but whose bytes do not parse (e.g.
// invalid UTF-8 in a string field) is skipped: the framing is still in step,
// so one bad frame costs only itself.
class FrameReader {
 public:
  void Feed(const char* data, size_t n) { buffer_.append(data, n); }
  enum class Result { kFrame, kNeedMore, kSkipped, kError };
  // kFrame fills `out`; kSkipped and kError fill `error` ("frame length 0", ...).
  Result Next(pb::Frame* out, std::string* error);
  size_t buffered() const { return buffer_.size(); }

 private:
  std::string buffer_;
  size_t offset_ = 0;
  bool broken_ = false;
};

// Writes all of `bytes` to a blocking fd; false (errno set) on failure.
bool WriteAll(int fd, const std::string& bytes);

}  // namespace clawos::agent
