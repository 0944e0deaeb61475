#include "monitor/decode.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>

#include <cstring>

#include "monitor/syscalls.h"

namespace clawos::monitor {
namespace {

clawos_event Syscall(const char* name) {
  clawos_event e;
  std::memset(&e, 0, sizeof(e));
  e.kind = CLAWOS_EV_SYSCALL;
  e.nr = SyscallNumber(name);
  return e;
}

TEST(DecodeTest, SyscallNamesComeFromTheKernelHeaders) {
  EXPECT_EQ(SyscallNumber("openat"), 257);
  EXPECT_EQ(SyscallNumber("getppid"), 110);
  EXPECT_EQ(SyscallName(59), "execve");
  EXPECT_EQ(SyscallNumber("nope"), -1);
  EXPECT_EQ(SyscallName(100000), "syscall_100000");
}

TEST(DecodeTest, SummariesDecodeFlagsAddressesAndSignals) {
  auto open = Syscall("openat");
  open.args[0] = static_cast<uint64_t>(AT_FDCWD);
  std::strcpy(open.str, "/etc/pass\"wd\n");
  open.args[2] = O_WRONLY | O_CREAT | O_CLOEXEC;
  open.args[3] = 0640;
  EXPECT_EQ(ArgsSummary(open),
            "dfd=AT_FDCWD path=\"/etc/pass\\\"wd\\n\" flags=O_WRONLY|O_CREAT|O_CLOEXEC mode=0640");

  auto conn = Syscall("connect");
  conn.args[0] = 3;
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(443);
  inet_pton(AF_INET, "10.1.2.3", &sin.sin_addr);
  std::memcpy(conn.sockaddr, &sin, sizeof(sin));
  EXPECT_EQ(ArgsSummary(conn), "fd=3 addr=10.1.2.3:443");

  auto kill = Syscall("kill");
  kill.args[0] = 1234;
  kill.args[1] = 9;
  EXPECT_EQ(ArgsSummary(kill), "pid=1234 sig=SIGKILL");

  auto pt = Syscall("ptrace");
  pt.args[0] = 16;
  pt.args[1] = 77;
  EXPECT_EQ(ArgsSummary(pt), "request=PTRACE_ATTACH pid=77");
}

TEST(DecodeTest, ArgvFromTheAreaOrTheSlots) {
  auto e = Syscall("execve");
  e.argv_flat = 1;
  const char area[] = "/bin/sh\0-c\0echo a=b\0";
  std::memcpy(e.argv, area, sizeof(area) - 1);
  e.argv_len = sizeof(area) - 1;
  std::strcpy(e.str, "/bin/sh");
  EXPECT_EQ(EventArgv(e), (std::vector<std::string>{"/bin/sh", "-c", "echo a=b"}));
  EXPECT_EQ(ArgsSummary(e), "path=\"/bin/sh\" argv=[\"/bin/sh\",\"-c\",\"echo a=b\"]");
  auto v = Decode(e, {"targets/t", "vms/v", "agents/a"});
  EXPECT_EQ(v.argv_size(), 3);
  EXPECT_EQ(v.syscall().name(), "execve");
  EXPECT_EQ(v.filename(), "/bin/sh") << "the program, as for the exec event";
  EXPECT_EQ(v.vm(), "vms/v");

  auto s = Syscall("execve");
  std::strcpy(s.argv, "ls");
  std::strcpy(s.argv + CLAWOS_ARGV_SLOT, "-l");
  EXPECT_EQ(EventArgv(s), (std::vector<std::string>{"ls", "-l"}));
}

}  // namespace
}  // namespace clawos::monitor
