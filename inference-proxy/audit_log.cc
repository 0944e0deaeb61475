#include "inference-proxy/audit_log.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/json.h"

namespace clawos::proxy {

namespace {

// A JSON string (escaped; invalid UTF-8 replaced), without building a document.
std::string Quoted(const std::string& s) { return json::Dump(nlohmann::json(s)); }

}  // namespace

// Written field by field (the same keys and order as a JSON object would
// have): the writer thread formats every request's line.
std::string AuditLine(const LedgerRow& r) {
  std::string line = absl::StrCat(
      "{\"completion_tokens\":", r.completion_tokens,
      r.error.empty() ? "" : absl::StrCat(",\"error\":", Quoted(r.error)),
      ",\"http_status\":", r.http_status,
      ",\"latency_ms\":", json::Dump(absl::ToDoubleMilliseconds(r.latency)),
      ",\"method\":", Quoted(r.method), ",\"model\":", Quoted(r.model),
      ",\"outcome\":", Quoted(OutcomeName(r.outcome)), ",\"path\":", Quoted(r.path),
      ",\"prompt_tokens\":", r.prompt_tokens, ",\"provider\":", Quoted(r.provider),
      ",\"request_id\":", Quoted(r.request_id), ",\"streamed\":", r.streamed ? "true" : "false",
      ",\"subject\":", Quoted(r.subject), ",\"ts\":\"",
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", r.time, absl::UTCTimeZone()), "\"");
  if (!r.vm.empty()) absl::StrAppend(&line, ",\"vm\":", Quoted(r.vm));
  line += "}\n";
  return line;
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
