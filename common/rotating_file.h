// An append-only file (0600) rotated by size: path → path.1 → ... →
// path.<keep>, the oldest dropped. For JSONL logs (the proxy's audit log, the
// monitor's event log). Appends are whole lines in one write(); thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace clawos {

class RotatingFile {
 public:
  // Its directory must exist.
  static absl::StatusOr<std::unique_ptr<RotatingFile>> Open(const std::string& path,
                                                            int64_t max_bytes, int keep);
  ~RotatingFile();
  RotatingFile(const RotatingFile&) = delete;

  absl::Status Append(std::string_view data);
  const std::string& path() const { return path_; }
  int64_t bytes_written() const;

 private:
  RotatingFile(std::string path, int64_t max_bytes, int keep)
      : path_(std::move(path)), max_bytes_(max_bytes), keep_(keep) {}
  absl::Status Reopen();
  absl::Status Rotate();

  std::string path_;
  int64_t max_bytes_;
  int keep_;
  mutable std::mutex mu_;
  int fd_ = -1;
  int64_t size_ = 0;
  int64_t written_ = 0;
};

}  // namespace clawos
