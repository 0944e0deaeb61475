#include "agent/frame.h"

#include <unistd.h>

#include <cerrno>

namespace clawos::agent {

std::string EncodeFrame(const pb::Frame& frame) {
  std::string body;
  if (!frame.SerializeToString(&body) || body.empty() || body.size() > kMaxFrameBytes) return "";
  uint32_t n = static_cast<uint32_t>(body.size());
  std::string out(4, '\0');
  out[0] = static_cast<char>(n >> 24);
  out[1] = static_cast<char>(n >> 16);
  out[2] = static_cast<char>(n >> 8);
  out[3] = static_cast<char>(n);
  return out + body;
}

FrameReader::Result FrameReader::Next(pb::Frame* out, std::string* error) {
  if (broken_) {
    *error = "the stream is broken";
    return Result::kError;
  }
  if (buffer_.size() - offset_ < 4) return Result::kNeedMore;
  const auto* p = reinterpret_cast<const unsigned char*>(buffer_.data() + offset_);
  uint32_t n = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
  if (n == 0 || n > kMaxFrameBytes) {
    broken_ = true;
    *error =
        "frame length " + std::to_string(n) + " is outside 1.." + std::to_string(kMaxFrameBytes);
    return Result::kError;
  }
  if (buffer_.size() - offset_ - 4 < n) return Result::kNeedMore;
  const bool parsed = out->ParseFromArray(buffer_.data() + offset_ + 4, static_cast<int>(n));
  offset_ += 4 + n;
  if (offset_ == buffer_.size() || offset_ > (1u << 20)) {  // compact now and then
    buffer_.erase(0, offset_);
    offset_ = 0;
  }
  if (!parsed) {
    *error = "a frame of " + std::to_string(n) + " bytes does not parse; skipped";
    return Result::kSkipped;
  }
  return Result::kFrame;
}

bool WriteAll(int fd, const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace clawos::agent
