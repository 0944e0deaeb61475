// What a stream's worker needs from the agent's connection to the host.
#pragma once

#include <string>

#include "agent/frame.h"

namespace clawos::agent {

class Sender {
 public:
  virtual ~Sender() = default;
  // Sends one frame; false when the host is not connected (the frame is lost,
  // as the stream is: the host treats open streams as cancelled then).
  virtual bool Send(const pb::Frame& frame) = 0;
};

// A stream's Error frame; `code` is a gRPC status code number.
inline pb::Frame ErrorFrame(uint64_t stream, int code, const std::string& message) {
  pb::Frame f;
  f.set_stream_id(stream);
  f.mutable_error()->set_code(code);
  f.mutable_error()->set_message(message);
  return f;
}

// gRPC status code numbers used by the agent.
enum Code {
  kInvalidArgument = 3,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
};

}  // namespace clawos::agent
