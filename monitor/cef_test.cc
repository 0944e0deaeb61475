#include "monitor/cef.h"

#include <gtest/gtest.h>

#include "common/grpc_util.h"
#include "monitor/jsonl_sink.h"
#include "monitor/syslog_message.h"

#include <nlohmann/json.hpp>

namespace clawos::monitor {
namespace {

namespace pb = ::clawos::monitor::v1;

TEST(CefTest, EscapesHeaderAndExtensionValues) {
  EXPECT_EQ(CefEscapeHeader("a|b\\c"), "a\\|b\\\\c");
  EXPECT_EQ(CefEscapeHeader("line\nbreak"), "line break");
  EXPECT_EQ(CefEscapeValue("k=v\\x\r\ny|z"), "k\\=v\\\\x\\r\\ny|z") << "| is literal in values";
  EXPECT_EQ(CefEscapeValue("é ☃"), "é ☃") << "UTF-8 passes through";
}

TEST(CefTest, InvalidUtf8AndNulBecomeReplacementCharacters) {
  const std::string nul("a\0b", 3);
  EXPECT_EQ(CefEscapeValue(nul),
            "a\xEF\xBF\xBD"
            "b")
      << "a C parser would end the line at NUL";
  EXPECT_EQ(CefEscapeHeader(nul),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(CefEscapeValue("x\xff=\xc3"), "x\xEF\xBF\xBD\\=\xEF\xBF\xBD");
  EXPECT_EQ(CefEscapeHeader("\xed\xa0\x80|"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\\|")
      << "a surrogate is three bad bytes";
  EXPECT_EQ(CefEscapeValue(" \t\x01\x7f "), " \t\x01\x7f ") << "other bytes are kept";
}

TEST(CefTest, FormatsAnEvent) {
  pb::Event e;
  e.set_sequence(42);
  *e.mutable_time() = ToProtoTime(absl::FromUnixMillis(1800000000123));
  e.set_kind(pb::Event::SYSCALL);
  e.set_severity(pb::SEVERITY_HIGH);
  e.set_rule("no|ptrace");
  e.set_vm("vms/a=b");
  e.set_target("targets/a");
  e.set_agent_subject("agents/a");
  e.set_comm("qemu-system-x86");
  e.set_pid(10);
  e.set_tid(11);
  e.mutable_syscall()->set_name("ptrace");
  e.mutable_syscall()->set_args_summary("request=PTRACE_ATTACH pid=7");
  e.mutable_syscall()->set_return_value(-1);
  e.set_action("alerted");
  std::string cef = FormatCef(e, "host1");
  EXPECT_EQ(cef.rfind("CEF:0|ClawOS|clawos-monitor|0.1.0|syscall:ptrace|no\\|ptrace: ptrace by "
                      "qemu-system-x86|8| rt=1800000000123 dvchost=host1 externalId=42 act=alerted "
                      "suser=agents/a cs1Label=vm cs1=vms/a\\=b ",
                      0),
            0u)
      << cef;
  EXPECT_NE(cef.find("msg=request\\=PTRACE_ATTACH pid\\=7"), std::string::npos) << cef;
  EXPECT_NE(cef.find("cn1=-1"), std::string::npos);
  e.mutable_syscall()->set_at_entry(true);
  EXPECT_EQ(FormatCef(e, "host1").find("cn1"), std::string::npos) << "no return value at entry";
}

TEST(SyslogTest, Rfc5424AndOctetCounting) {
  std::string m = SyslogMessage(absl::FromUnixMicros(1800000000123456),
                                SyslogSeverity(pb::SEVERITY_CRITICAL), "my host", "CEF", "CEF:0|x");
  EXPECT_EQ(m.rfind("<106>1 2027-01-15T08:00:00.123456Z my_host clawos-monitor ", 0), 0u) << m;
  EXPECT_NE(m.find(" CEF - CEF:0|x"), std::string::npos) << m;
  EXPECT_EQ(OctetCounted("héllo"), "6 héllo") << "octets, not characters";
}

TEST(JsonlTest, LinesAreValidJsonWhateverTheBytes) {
  pb::Event e;
  e.set_sequence(7);
  e.set_kind(pb::Event::PROCESS_EXEC);
  e.set_comm("a\"b\\c\n\x01");
  e.set_filename("/tmp/\xff\xc3(é☃");
  e.add_argv("x=y|z");
  e.add_argv("line\nbreak");
  std::string line = EventJsonLine(e);
  ASSERT_EQ(line.back(), '\n');
  auto j = nlohmann::json::parse(line, nullptr, false);
  ASSERT_TRUE(j.is_object()) << line;
  EXPECT_EQ(j["sequence"], 7);
  EXPECT_EQ(j["kind"], "PROCESS_EXEC");
  EXPECT_EQ(j["comm"], "a\"b\\c\n\x01");
  EXPECT_EQ(j["filename"], "/tmp/\xef\xbf\xbd\xef\xbf\xbd(é☃") << "invalid UTF-8 → U+FFFD";
  EXPECT_EQ(j["argv"][1], "line\nbreak");
  EXPECT_FALSE(j.contains("syscall"));
}

}  // namespace
}  // namespace clawos::monitor
