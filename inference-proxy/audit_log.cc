#include "inference-proxy/audit_log.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace clawos::proxy {

std::string AuditLine(const LedgerRow& r) {
  nlohmann::json j{{"ts", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", r.time, absl::UTCTimeZone())},
                   {"request_id", r.request_id},
                   {"subject", r.subject},
                   {"method", r.method},
                   {"path", r.path},
                   {"provider", r.provider},
                   {"model", r.model},
                   {"streamed", r.streamed},
                   {"outcome", OutcomeName(r.outcome)},
                   {"http_status", r.http_status},
                   {"prompt_tokens", r.prompt_tokens},
                   {"completion_tokens", r.completion_tokens},
                   {"latency_ms", absl::ToDoubleMilliseconds(r.latency)}};
  if (!r.vm.empty()) j["vm"] = r.vm;
  if (!r.error.empty()) j["error"] = r.error;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path, int64_t max_bytes,
                                                         int keep) {
  auto file = RotatingFile::Open(path, max_bytes, keep);
  if (!file.ok()) return file.status();
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(*file)));
}

absl::Status AuditLog::Write(const LedgerRow& row) { return file_->Append(AuditLine(row)); }

absl::Status AuditLog::WriteBatch(const std::vector<LedgerRow>& rows, size_t from) {
  std::string lines;
  for (size_t i = from; i < rows.size(); ++i) lines += AuditLine(rows[i]);
  if (lines.empty()) return absl::OkStatus();
  return file_->Append(lines);
}

}  // namespace clawos::proxy
