#include "monitor/cef.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/grpc_util.h"
#include "common/utf8.h"

namespace clawos::monitor {
namespace {

namespace pb = ::clawos::monitor::v1;

constexpr char kVersion[] = "0.1.0";
constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

void Ext(std::string* out, std::string_view key, std::string_view value) {
  if (value.empty()) return;
  if (!out->empty()) out->push_back(' ');
  *out += std::string(key) + "=" + CefEscapeValue(value);
}

}  // namespace

std::string CefEscapeHeader(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : ToValidUtf8(s)) {
    if (c == '\\' || c == '|') out.push_back('\\');
    if (c == '\0') {
      out += kReplacement;
    } else {
      out.push_back(c == '\n' || c == '\r' ? ' ' : c);
    }
  }
  return out;
}

std::string CefEscapeValue(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : ToValidUtf8(s)) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '=':
        out += "\\=";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\0':
        out += kReplacement;
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

int CefSeverity(pb::Severity s) {
  switch (s) {
    case pb::SEVERITY_LOW:
      return 3;
    case pb::SEVERITY_MEDIUM:
      return 5;
    case pb::SEVERITY_HIGH:
      return 8;
    case pb::SEVERITY_CRITICAL:
      return 10;
    default:
      return 1;
  }
}

std::string FormatCef(const pb::Event& e, const std::string& host) {
  std::string signature, name;
  switch (e.kind()) {
    case pb::Event::SYSCALL:
      signature = "syscall:" + e.syscall().name();
      name = absl::StrCat(e.syscall().name(), " by ", e.comm());
      break;
    case pb::Event::PROCESS_FORK:
      signature = "process:fork";
      name = absl::StrCat("fork by ", e.comm());
      break;
    case pb::Event::PROCESS_EXEC:
      signature = "process:exec";
      name = absl::StrCat("exec ", e.filename());
      break;
    case pb::Event::PROCESS_EXIT:
      signature = "process:exit";
      name = absl::StrCat("exit of ", e.comm());
      break;
    default:
      signature = "unknown";
      name = "unknown";
  }
  if (!e.rule().empty()) name = absl::StrCat(e.rule(), ": ", name);
  std::string ext;
  Ext(&ext, "rt", std::to_string(absl::ToUnixMillis(FromProtoTime(e.time()))));
  Ext(&ext, "dvchost", host);
  Ext(&ext, "externalId", std::to_string(e.sequence()));
  Ext(&ext, "act", e.action());
  Ext(&ext, "suser", e.agent_subject());
  if (!e.vm().empty()) {
    Ext(&ext, "cs1Label", "vm");
    Ext(&ext, "cs1", e.vm());
  }
  if (!e.target().empty()) {
    Ext(&ext, "cs2Label", "target");
    Ext(&ext, "cs2", e.target());
  }
  if (!e.rule().empty()) {
    Ext(&ext, "cs3Label", "rule");
    Ext(&ext, "cs3", e.rule());
  }
  if (e.argv_size() > 0) {
    Ext(&ext, "cs4Label", "argv");
    Ext(&ext, "cs4", absl::StrJoin(e.argv(), " "));
  }
  if (!e.llm_request_id().empty()) {
    Ext(&ext, "cs5Label", "llmRequestId");
    Ext(&ext, "cs5", e.llm_request_id());
  }
  Ext(&ext, "dproc", e.comm());
  Ext(&ext, "dpid", std::to_string(e.pid()));
  Ext(&ext, "cn2Label", "tid");
  Ext(&ext, "cn2", std::to_string(e.tid()));
  Ext(&ext, "duid", std::to_string(e.uid()));
  if (e.kind() == pb::Event::SYSCALL) {
    if (!e.syscall().at_entry()) {  // at entry there is no return value yet
      Ext(&ext, "cn1Label", "returnValue");
      Ext(&ext, "cn1", std::to_string(e.syscall().return_value()));
    }
    Ext(&ext, "msg", e.syscall().args_summary());
  }
  if (e.kind() == pb::Event::PROCESS_FORK) {
    Ext(&ext, "cn3Label", "childPid");
    Ext(&ext, "cn3", std::to_string(e.child_pid()));
  }
  if (e.kind() == pb::Event::PROCESS_EXIT) {
    Ext(&ext, "cn3Label", "exitCode");
    Ext(&ext, "cn3", std::to_string(e.exit_code()));
  }
  Ext(&ext, "fname", e.filename());
  // A space after the last '|': liblognorm 2.0.6 (Debian 12) drops the first
  // character of the first extension key otherwise (docs/decisions.md).
  return absl::StrCat("CEF:0|ClawOS|clawos-monitor|", kVersion, "|", CefEscapeHeader(signature),
                      "|", CefEscapeHeader(name), "|", CefSeverity(e.severity()), "| ", ext);
}

}  // namespace clawos::monitor
