#include "monitor/syslog_message.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace clawos::monitor {
namespace {

namespace pb = ::clawos::monitor::v1;
constexpr int kFacilityLogAudit = 13;

// RFC 5424 header fields: printable US-ASCII, no spaces, bounded; "-" if empty.
std::string HeaderField(std::string_view s, size_t max) {
  std::string out;
  for (char c : s.substr(0, max)) out.push_back(c > 32 && c < 127 ? c : '_');
  return out.empty() ? "-" : out;
}

}  // namespace

int SyslogSeverity(pb::Severity s) {
  switch (s) {
    case pb::SEVERITY_CRITICAL:
      return 2;
    case pb::SEVERITY_HIGH:
      return 3;
    case pb::SEVERITY_MEDIUM:
      return 4;
    case pb::SEVERITY_LOW:
      return 5;
    default:
      return 6;
  }
}

std::string SyslogMessage(absl::Time time, int severity, const std::string& host,
                          std::string_view msgid, std::string_view msg) {
  return absl::StrCat("<", kFacilityLogAudit * 8 + severity, ">1 ",
                      absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", time, absl::UTCTimeZone()), " ",
                      HeaderField(host, 255), " clawos-monitor ", getpid(), " ",
                      HeaderField(msgid, 32), " - ", std::string(msg));
}

std::string OctetCounted(std::string_view message) {
  return absl::StrCat(message.size(), " ", std::string(message));
}

}  // namespace clawos::monitor
