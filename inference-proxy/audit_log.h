// The JSONL audit log: one line per data-path request (who, what model, the
// outcome, tokens, latency, the request id), never the prompt or the answer.
// Rotated by size: audit.jsonl → audit.jsonl.1 → ... → audit.jsonl.<keep>.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "inference-proxy/ledger.h"

namespace clawos::proxy {

class AuditLog {
 public:
  // The file is created 0600; its directory must exist.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const std::string& path,
                                                        int64_t max_bytes = 64 << 20, int keep = 5);
  ~AuditLog();
  absl::Status Write(const LedgerRow& row);

 private:
  AuditLog(std::string path, int64_t max_bytes, int keep)
      : path_(std::move(path)), max_bytes_(max_bytes), keep_(keep) {}
  absl::Status Reopen();
  absl::Status Rotate();
  std::string path_;
  int64_t max_bytes_;
  int keep_;
  std::mutex mu_;
  int fd_ = -1;
  int64_t size_ = 0;
};

std::string AuditLine(const LedgerRow& row);

}  // namespace clawos::proxy
