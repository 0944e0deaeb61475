// RFC 5424 syslog messages and their framing on the wire:
//   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG
// PRI = facility 13 (log audit) × 8 + severity; the timestamp in UTC with
// microseconds. UDP carries one message per datagram (RFC 5426); TCP and
// TLS use octet counting, "<length> <message>" (RFC 6587, RFC 5425).
#pragma once

#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "clawos/monitor/v1/monitor.pb.h"

namespace clawos::monitor {

// Syslog severity for an event's: CRITICAL 2, HIGH 3, MEDIUM 4, LOW 5, INFO 6.
int SyslogSeverity(::clawos::monitor::v1::Severity s);
std::string SyslogMessage(absl::Time time, int severity, const std::string& host,
                          std::string_view msgid, std::string_view msg);
std::string OctetCounted(std::string_view message);

}  // namespace clawos::monitor
