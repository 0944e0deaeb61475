#include "inference-proxy/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/files.h"

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
  std::unique_ptr<AuditLog> a(new AuditLog(path, max_bytes, keep));
  if (auto s = a->Reopen(); !s.ok()) return s;
  return a;
}

AuditLog::~AuditLog() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status AuditLog::Reopen() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) return ErrnoStatus(errno, absl::StrCat("opening the audit log ", path_));
  struct stat st {};
  ::fstat(fd_, &st);
  size_ = st.st_size;
  return absl::OkStatus();
}

absl::Status AuditLog::Rotate() {
  for (int i = keep_ - 1; i >= 1; --i) {
    ::rename(absl::StrCat(path_, ".", i).c_str(), absl::StrCat(path_, ".", i + 1).c_str());
  }
  if (::rename(path_.c_str(), (path_ + ".1").c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("rotating the audit log ", path_));
  }
  return Reopen();
}

absl::Status AuditLog::Write(const LedgerRow& row) {
  std::string line = AuditLine(row);
  std::lock_guard lock(mu_);
  if (size_ > 0 && size_ + static_cast<int64_t>(line.size()) > max_bytes_) {
    if (auto s = Rotate(); !s.ok()) return s;
  }
  ssize_t n = ::write(fd_, line.data(), line.size());
  if (n != static_cast<ssize_t>(line.size())) {
    return ErrnoStatus(n < 0 ? errno : ENOSPC, absl::StrCat("writing the audit log ", path_));
  }
  size_ += n;
  return absl::OkStatus();
}

}  // namespace clawos::proxy
