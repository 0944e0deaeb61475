// Files moved for the host. A put writes a temporary file beside the target
// and renames it into place only after the last chunk (and the SHA-256, when
// given) checked out, so a cancelled or failed put leaves nothing behind. A
// get streams the file in chunks on its own thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "agent/sender.h"

namespace clawos::agent {

class FilePutSession {
 public:
  // Sends an Error and returns null when the put cannot begin.
  static std::unique_ptr<FilePutSession> Begin(uint64_t stream, const pb::FilePut& put,
                                               Sender& out);
  ~FilePutSession();
  // Writes a chunk; on its eof finishes the put. False once the stream ended
  // (answered with FileInfo or an Error).
  bool Write(const pb::Chunk& chunk);

 private:
  FilePutSession(uint64_t stream, pb::FilePut put, Sender& out)
      : stream_(stream), put_(std::move(put)), out_(out) {}
  bool Fail(int code, const std::string& message);
  bool Finish();
  const uint64_t stream_;
  const pb::FilePut put_;
  Sender& out_;
  std::string temp_;
  int fd_ = -1;
};

// Streams a file on a new thread; `cancelled` stops it early.
void StartFileGet(uint64_t stream, const pb::FileGet& get, Sender& out,
                  std::shared_ptr<std::atomic<bool>> cancelled);

}  // namespace clawos::agent
