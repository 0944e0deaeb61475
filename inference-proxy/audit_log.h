// The JSONL audit log: one line per data-path request (who, what model, the
// outcome, tokens, latency, the request id), never the prompt or the answer.
// Rotated by size: audit.jsonl → audit.jsonl.1 → ... → audit.jsonl.<keep>.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/rotating_file.h"
#include "inference-proxy/ledger.h"

namespace clawos::proxy {

class AuditLog {
 public:
  // The file is created 0600; its directory must exist.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const std::string& path,
                                                        int64_t max_bytes = 64 << 20, int keep = 5);
  absl::Status Write(const LedgerRow& row);
  // The lines of rows[from..] in one write.
  absl::Status WriteBatch(const std::vector<LedgerRow>& rows, size_t from = 0);

 private:
  explicit AuditLog(std::unique_ptr<RotatingFile> file) : file_(std::move(file)) {}
  std::unique_ptr<RotatingFile> file_;
};

std::string AuditLine(const LedgerRow& row);

}  // namespace clawos::proxy
