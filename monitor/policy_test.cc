#include "monitor/policy.h"

#include <gtest/gtest.h>

#include "monitor/bpf_monitor.h"
#include "monitor/syscalls.h"

namespace clawos::monitor {
namespace {

namespace pb = ::clawos::monitor::v1;

TEST(PolicyTest, DefaultDetailsTheSensitiveCalls) {
  Policy p = Policy::Default();
  EXPECT_EQ(p.Bits("t", SyscallNumber("execve")), CLAWOS_POL_DETAIL);
  EXPECT_EQ(p.Bits("t", SyscallNumber("ptrace")), CLAWOS_POL_DETAIL);
  EXPECT_EQ(p.Bits("t", SyscallNumber("getppid")), 0);
  EXPECT_FALSE(p.enforce());
}

TEST(PolicyTest, RulesSetSeverityAndKillOnlyWhenEnforcing) {
  const char* text = R"(
detail = ["openat"]
enforce = true

[[rule]]
name = "no-ptrace"
syscalls = ["ptrace"]
severity = "high"
action = "kill"
targets = ["vm-a"]

[[rule]]
name = "no-shell"
binaries = ["/bin/sh"]
severity = "critical"
)";
  auto p = Policy::Parse(text, "policy.toml");
  ASSERT_TRUE(p.ok()) << p.status();
  int ptrace = SyscallNumber("ptrace");
  EXPECT_EQ(p->Bits("vm-a", ptrace), CLAWOS_POL_DETAIL | CLAWOS_POL_KILL);
  EXPECT_EQ(p->Bits("vm-b", ptrace), 0) << "the rule names its targets";
  EXPECT_EQ(p->Bits("vm-b", SyscallNumber("execve")), 0) << "detail replaced the default list";
  EXPECT_EQ(p->Bits("vm-b", SyscallNumber("openat")), CLAWOS_POL_DETAIL);

  pb::Event e;
  e.set_kind(pb::Event::SYSCALL);
  e.mutable_syscall()->set_nr(ptrace);
  EXPECT_TRUE(p->Apply("vm-a", &e));
  EXPECT_EQ(e.severity(), pb::SEVERITY_HIGH);
  EXPECT_EQ(e.rule(), "no-ptrace");

  pb::Event exec;
  exec.set_kind(pb::Event::PROCESS_EXEC);
  exec.set_filename("/bin/sh");
  EXPECT_FALSE(p->Apply("vm-b", &exec)) << "alert only";
  EXPECT_EQ(exec.severity(), pb::SEVERITY_CRITICAL);
  EXPECT_EQ(exec.rule(), "no-shell");
  pb::Event execve;  // the call that starts it matches too
  execve.set_kind(pb::Event::SYSCALL);
  execve.mutable_syscall()->set_nr(SyscallNumber("execve"));
  execve.set_filename("/bin/sh");
  p->Apply("vm-b", &execve);
  EXPECT_EQ(execve.rule(), "no-shell");
  execve.set_filename("/bin/true");
  execve.clear_rule();
  p->Apply("vm-b", &execve);
  EXPECT_EQ(execve.rule(), "");

  auto off = Policy::Parse("[[rule]]\nname='k'\nsyscalls=['ptrace']\naction='kill'\n", "p");
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->Bits("x", ptrace), CLAWOS_POL_DETAIL) << "kill needs enforce = true";
}

TEST(PolicyTest, ErrorsNameTheLine) {
  auto bad = Policy::Parse(
      "detail = [\"openat\"]\n\n[[rule]]\nname = \"x\"\nsyscalls = [\"nosuch\"]\n", "p.toml");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "p.toml:5: \"nosuch\" is not an x86-64 system call");
  auto syntax = Policy::Parse("detail = [\n", "p.toml");
  EXPECT_NE(syntax.status().message().find("p.toml:"), std::string_view::npos);
  auto unknown = Policy::Parse("enforce = true\ncolour = 1\n", "p.toml");
  EXPECT_EQ(unknown.status().message(), "p.toml:2: unknown setting \"colour\"");
  auto sev = Policy::Parse("[[rule]]\nname='x'\nsyscalls=['bpf']\nseverity='huge'\n", "p.toml");
  EXPECT_EQ(sev.status().message(),
            "p.toml:4: \"severity\" is one of info, low, medium, high, critical");
  auto empty = Policy::Parse("[[rule]]\nname='x'\n", "p.toml");
  EXPECT_EQ(empty.status().message(), "p.toml:1: rule \"x\" needs \"syscalls\" or \"binaries\"");
}

// toml++ 3.3.0 is undefined (__builtin_unreachable) for characters such as
// é, Cyrillic or U+FEFC where it asks whether they are whitespace; the policy
// reads them anyway (monitor/toml_parse.h), as TOML says.
TEST(PolicyTest, ReadsAnyCharacterWhereTomlAllowsIt) {
  const char* text =
      "# Политика — no ptrace, é\n"
      "[[rule]]\n"
      "name = \"\"\"règle \\\n"
      "    Привет ﻼ\"\"\"\n"
      "binaries = ['/opt/é/bin', \"/usr/bin/\\u00e9x\", '/tmp/⺀〠']\n"
      "targets = [\"vm-ﻼ\"]\n";
  auto p = Policy::Parse(text, "p.toml");
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->rules().size(), 1u);
  const Rule& r = p->rules()[0];
  EXPECT_EQ(r.name, "règle Привет ﻼ") << "a line-ending backslash skips the line break";
  EXPECT_EQ(r.binaries, (std::set<std::string>{"/opt/é/bin", "/usr/bin/éx", "/tmp/⺀〠"}));
  EXPECT_EQ(r.targets, (std::set<std::string>{"vm-ﻼ"}));
}

TEST(PolicyTest, RefusesBadTextWithoutUndefinedBehaviour) {
  // Each of these made toml++ test é (or П) for whitespace.
  auto scanned = Policy::Parse("enforce = 1\"é\"\n", "p.toml");
  EXPECT_EQ(scanned.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(scanned.status().message().rfind("p.toml:1: ", 0), 0u) << scanned.status();
  auto bare = Policy::Parse("\nenforcП = true\n", "p.toml");
  EXPECT_EQ(bare.status().message().rfind("p.toml:2: ", 0), 0u) << bare.status();
  EXPECT_NE(bare.status().message().find("П"), std::string_view::npos)
      << "messages show the character itself: " << bare.status();
  auto key = Policy::Parse("[[rule]]\nname = 'x'\nsyscalls = ['bpf']\n\"ключ\" = 1\n", "p.toml");
  EXPECT_EQ(key.status().message(), "p.toml:4: unknown rule field \"ключ\"");
  auto escape = Policy::Parse("detail = [\"\"\"\\é\"\"\"]\n", "p.toml");
  EXPECT_EQ(escape.status().code(), absl::StatusCode::kInvalidArgument);

  auto utf8 = Policy::Parse("enforce = true\n# caf\xe9\n", "p.toml");
  EXPECT_EQ(utf8.status().message(), "p.toml:2: invalid UTF-8 at byte 21 (0xe9)");
  auto stand_in = Policy::Parse("# \xf3\xb0\x83\xa9\n", "p.toml");  // U+F00E9
  EXPECT_EQ(stand_in.status().message(),
            "p.toml:1: U+F00E9 at byte 3 is a private-use character this reader keeps for "
            "itself");
}

}  // namespace
}  // namespace clawos::monitor
