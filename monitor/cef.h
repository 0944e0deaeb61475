// ArcSight Common Event Format (CEF) for an event:
//   CEF:0|ClawOS|clawos-monitor|<version>|<signature>|<name>|<severity>|<extension>
// Header fields escape \ and | (and cannot hold line breaks: they become
// spaces); extension values escape \, =, CR (\r) and LF (\n). In both, the
// text is made valid UTF-8 (ToValidUtf8: each bad byte is U+FFFD) and NUL is
// U+FFFD; every other byte, spaces at either end included, is kept. So a
// CEF parser (liblognorm's, deploy/rsyslog/clawos-cef.rb) gives back exactly
// that text (cef_roundtrip_test). Fields: rt,
// dvchost, suser (agent id), cs1 vm, cs2 target, cs3 rule, cs4 argv, cs5 LLM
// request id, act, cn1 return value, dproc/dpid/dtid, duid, fname, msg
// (the argument summary), externalId (sequence).
#pragma once

#include <string>
#include <string_view>

#include "clawos/monitor/v1/monitor.pb.h"

namespace clawos::monitor {

std::string CefEscapeHeader(std::string_view s);
std::string CefEscapeValue(std::string_view s);
// 1, 3, 5, 8, 10 for INFO..CRITICAL.
int CefSeverity(::clawos::monitor::v1::Severity s);
std::string FormatCef(const ::clawos::monitor::v1::Event& e, const std::string& host);

}  // namespace clawos::monitor
