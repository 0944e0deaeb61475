// libFuzzer target for the monitor's SIEM records (monitor/cef.h and
// monitor/syslog_message.h): an event whose strings (program names, paths,
// arguments, rule names, ids) hold any bytes, formatted as CEF inside an RFC
// 5424 message, octet-counted for TCP.
//
// The input is turned into an event, a host name and a MSGID with
// FuzzedDataProvider. Properties checked beside the sanitizers, with a
// CEF reader written here: a record is one line (no CR or LF anywhere); its
// header has exactly the eight fields, the two free ones escaped (\ and |)
// with line breaks made spaces, and the severity CefSeverity's; its
// extension splits into known keys, each once, and every value reads back
// exactly as given (so nothing a value holds can end it early or forge a
// key; invalid UTF-8 and NUL read back as U+FFFD, the formatter's rule); the
// syslog header has printable, space-free fields (NILVALUE when
// empty) and the CEF record as its MSG; the octet count is the message's
// length.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/utf8.h"
#include "monitor/cef.h"
#include "monitor/syslog_message.h"
#include "test/fuzz/require.h"

namespace {

using namespace clawos::monitor;
namespace pb = ::clawos::monitor::v1;

using clawos::fuzz::Require;

pb::Event MakeEvent(FuzzedDataProvider& in) {
  pb::Event e;
  e.set_kind(static_cast<pb::Event::Kind>(in.ConsumeIntegralInRange(0, 5)));
  e.set_severity(static_cast<pb::Severity>(in.ConsumeIntegralInRange(0, 6)));
  e.set_sequence(in.ConsumeIntegral<uint64_t>());
  e.mutable_time()->set_seconds(in.ConsumeIntegral<int64_t>());
  e.mutable_time()->set_nanos(in.ConsumeIntegral<int32_t>());
  e.set_pid(in.ConsumeIntegral<int32_t>());
  e.set_tid(in.ConsumeIntegral<int32_t>());
  e.set_uid(in.ConsumeIntegral<uint32_t>());
  e.set_child_pid(in.ConsumeIntegral<int32_t>());
  e.set_exit_code(in.ConsumeIntegral<int32_t>());
  e.mutable_syscall()->set_at_entry(in.ConsumeBool());
  e.mutable_syscall()->set_return_value(in.ConsumeIntegral<int64_t>());
  for (std::string* s :
       {e.mutable_rule(), e.mutable_target(), e.mutable_vm(), e.mutable_agent_subject(),
        e.mutable_comm(), e.mutable_filename(), e.mutable_llm_request_id(), e.mutable_action(),
        e.mutable_syscall()->mutable_name(), e.mutable_syscall()->mutable_args_summary()}) {
    *s = in.ConsumeRandomLengthString(256);
  }
  for (int n = in.ConsumeIntegralInRange(0, 4); n > 0; --n) {
    e.add_argv(in.ConsumeRandomLengthString(64));
  }
  return e;
}

// Splits at the first `n` '|' not escaped by '\'.
std::vector<std::string> HeaderFields(const std::string& cef, int n, std::string* rest) {
  std::vector<std::string> out(1);
  size_t i = 0;
  for (; i < cef.size() && static_cast<int>(out.size()) <= n; ++i) {
    if (cef[i] == '\\' && i + 1 < cef.size()) {
      out.back() += cef.substr(i, 2);
      ++i;
    } else if (cef[i] == '|') {
      out.emplace_back();
    } else {
      out.back() += cef[i];
    }
  }
  Require(static_cast<int>(out.size()) == n + 1);
  out.pop_back();  // the extension starts after the last '|'
  *rest = cef.substr(i);
  return out;
}

std::string UnescapeHeader(const std::string& f) {
  std::string out;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] == '\\') {
      Require(i + 1 < f.size() && (f[i + 1] == '\\' || f[i + 1] == '|'));
      out += f[++i];
    } else {
      Require(f[i] != '|');
      out += f[i];
    }
  }
  return out;
}

std::string UnescapeValue(std::string_view v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '\\') {
      out += v[i];
      continue;
    }
    Require(i + 1 < v.size());
    char c = v[++i];
    Require(c == '\\' || c == '=' || c == 'n' || c == 'r');
    out += c == 'n' ? '\n' : c == 'r' ? '\r' : c;
  }
  return out;
}

// key=value pairs: a key is the word before an unescaped '='; its value runs
// to the space before the next key.
std::map<std::string, std::string> Extension(const std::string& ext) {
  std::vector<size_t> eqs;
  for (size_t i = 0; i < ext.size(); ++i) {
    if (ext[i] == '\\') {
      ++i;
    } else if (ext[i] == '=') {
      eqs.push_back(i);
    }
  }
  std::map<std::string, std::string> out;
  size_t key_start = 0;
  for (size_t k = 0; k < eqs.size(); ++k) {
    std::string key = ext.substr(key_start, eqs[k] - key_start);
    size_t value_end = ext.size();
    size_t next_key = ext.size();
    if (k + 1 < eqs.size()) {
      size_t space = ext.rfind(' ', eqs[k + 1]);
      Require(space != std::string::npos && space > eqs[k]);
      value_end = space;
      next_key = space + 1;
    }
    Require(!key.empty());
    for (char c : key) Require(std::isalnum(static_cast<unsigned char>(c)));
    Require(out.emplace(key, UnescapeValue(ext.substr(eqs[k] + 1, value_end - eqs[k] - 1))).second);
    key_start = next_key;
  }
  return out;
}

// What a value reads back as: valid UTF-8, NUL as U+FFFD (monitor/cef.h).
std::string Text(std::string_view s) {
  std::string out;
  for (char c : clawos::ToValidUtf8(s)) {
    if (c == '\0') {
      out += "\xEF\xBF\xBD";
    } else {
      out += c;
    }
  }
  return out;
}

std::string NoBreaks(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

void CheckCef(const pb::Event& e, const std::string& host, const std::string& cef) {
  Require(cef.find_first_of("\r\n") == std::string::npos);
  Require(cef.find('\0') == std::string::npos && clawos::IsValidUtf8(cef));
  std::string rest;
  std::vector<std::string> h = HeaderFields(cef, 7, &rest);
  Require(h[0] == "CEF:0" && h[1] == "ClawOS" && h[2] == "clawos-monitor");
  Require(h[6] == std::to_string(CefSeverity(e.severity())));
  for (int i : {4, 5}) {
    std::string plain = UnescapeHeader(h[i]);
    Require(CefEscapeHeader(plain) == h[i] && NoBreaks(plain) == plain);
  }
  if (e.kind() == pb::Event::SYSCALL) {
    Require(UnescapeHeader(h[4]) == NoBreaks(Text("syscall:" + e.syscall().name())));
  }
  Require(!rest.empty() && rest[0] == ' ');
  std::map<std::string, std::string> ext = Extension(rest.substr(1));
  static const std::set<std::string> kKeys = {
      "rt",       "dvchost", "externalId", "act",      "suser",    "cs1Label", "cs1",
      "cs2Label", "cs2",     "cs3Label",   "cs3",      "cs4Label", "cs4",      "cs5Label",
      "cs5",      "dproc",   "dpid",       "cn2Label", "cn2",      "duid",     "cn1Label",
      "cn1",      "msg",     "cn3Label",   "cn3",      "fname"};
  for (const auto& [k, v] : ext) Require(kKeys.count(k) && !v.empty());
  auto expect = [&](const std::string& key, const std::string& value) {
    auto it = ext.find(key);
    Require(value.empty() ? it == ext.end() : (it != ext.end() && it->second == Text(value)));
  };
  expect("dvchost", host);
  expect("act", e.action());
  expect("suser", e.agent_subject());
  expect("cs1", e.vm());
  expect("cs2", e.target());
  expect("cs3", e.rule());
  expect("cs4", absl::StrJoin(e.argv(), " "));
  expect("cs5", e.llm_request_id());
  expect("dproc", e.comm());
  expect("fname", e.filename());
  expect("externalId", std::to_string(e.sequence()));
  if (e.kind() == pb::Event::SYSCALL) expect("msg", e.syscall().args_summary());
}

// "<PRI>1 TIMESTAMP HOST APP PROCID MSGID - MSG"
void CheckSyslog(const std::string& msg, int severity, const std::string& cef) {
  Require(msg.find_first_of("\r\n") == std::string::npos);
  std::vector<std::string> f = absl::StrSplit(msg, absl::MaxSplits(' ', 7));
  Require(f.size() == 8);
  Require(f[0] == "<" + std::to_string(13 * 8 + severity) + ">1");
  for (int i = 1; i <= 5; ++i) {
    Require(!f[i].empty() && f[i].size() <= 255);
    for (char c : f[i]) Require(c > 32 && c < 127);
  }
  Require(f[3] == "clawos-monitor" && f[5].size() <= 32 && f[6] == "-" && f[7] == cef);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  std::string host = in.ConsumeRandomLengthString(300);
  std::string msgid = in.ConsumeRandomLengthString(40);
  pb::Event e = MakeEvent(in);
  std::string cef = FormatCef(e, host);
  CheckCef(e, host, cef);
  int severity = SyslogSeverity(e.severity());
  Require(severity >= 2 && severity <= 6);
  absl::Time t = absl::FromUnixSeconds(e.time().seconds()) + absl::Nanoseconds(e.time().nanos());
  std::string msg = SyslogMessage(t, severity, host, msgid, cef);
  CheckSyslog(msg, severity, cef);
  std::string wire = OctetCounted(msg);
  Require(wire == std::to_string(msg.size()) + " " + msg);
  return 0;
}
