#include "monitor/decode.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/grpc_util.h"
#include "monitor/syscalls.h"

namespace clawos::monitor {
namespace {

namespace pb = ::clawos::monitor::v1;

std::string Str(const char* s, size_t max) { return std::string(s, strnlen(s, max)); }

std::string Fd(int64_t fd) { return fd == AT_FDCWD ? "AT_FDCWD" : std::to_string(fd); }

std::string OpenFlags(uint64_t f) {
  std::vector<std::string> out;
  switch (f & O_ACCMODE) {
    case O_RDONLY:
      out.push_back("O_RDONLY");
      break;
    case O_WRONLY:
      out.push_back("O_WRONLY");
      break;
    default:
      out.push_back("O_RDWR");
      break;
  }
  const std::pair<uint64_t, const char*> kFlags[] = {
      {O_CREAT, "O_CREAT"},         {O_EXCL, "O_EXCL"},         {O_NOCTTY, "O_NOCTTY"},
      {O_TRUNC, "O_TRUNC"},         {O_APPEND, "O_APPEND"},     {O_NONBLOCK, "O_NONBLOCK"},
      {O_DIRECTORY, "O_DIRECTORY"}, {O_NOFOLLOW, "O_NOFOLLOW"}, {O_CLOEXEC, "O_CLOEXEC"},
      {O_PATH, "O_PATH"},           {O_DSYNC, "O_DSYNC"}};
  uint64_t known = O_ACCMODE;
  for (auto [bit, name] : kFlags) {
    if ((f & bit) == bit) out.push_back(name);
    known |= bit;
  }
  if (f & ~known) out.push_back(absl::StrCat("0x", absl::Hex(f & ~known)));
  return absl::StrJoin(out, "|");
}

std::string Signal(int64_t sig) {
  if (sig == 0) return "0";
  const char* abbrev = sigabbrev_np(static_cast<int>(sig));
  return abbrev ? absl::StrCat("SIG", abbrev) : std::to_string(sig);
}

std::string SockAddr(const clawos_event& e) {
  const uint8_t* a = e.sockaddr;
  uint16_t family = static_cast<uint16_t>(a[0] | a[1] << 8);
  char buf[INET6_ADDRSTRLEN] = {};
  if (family == AF_INET) {
    inet_ntop(AF_INET, a + 4, buf, sizeof(buf));
    return absl::StrCat(buf, ":", a[2] << 8 | a[3]);
  }
  if (family == AF_INET6) {
    inet_ntop(AF_INET6, a + 8, buf, sizeof(buf));
    return absl::StrCat("[", buf, "]:", a[2] << 8 | a[3]);
  }
  if (family == AF_UNIX) {
    std::string path = Str(reinterpret_cast<const char*>(a + 2), sizeof(e.sockaddr) - 2);
    return absl::StrCat("unix:", Quote(path));
  }
  return absl::StrCat("family=", family);
}

const char* PtraceRequest(int64_t r) {
  switch (r) {
    case 0:
      return "PTRACE_TRACEME";
    case 1:
      return "PTRACE_PEEKTEXT";
    case 2:
      return "PTRACE_PEEKDATA";
    case 4:
      return "PTRACE_POKETEXT";
    case 5:
      return "PTRACE_POKEDATA";
    case 7:
      return "PTRACE_CONT";
    case 8:
      return "PTRACE_KILL";
    case 9:
      return "PTRACE_SINGLESTEP";
    case 12:
      return "PTRACE_GETREGS";
    case 13:
      return "PTRACE_SETREGS";
    case 16:
      return "PTRACE_ATTACH";
    case 17:
      return "PTRACE_DETACH";
    case 0x4206:
      return "PTRACE_SEIZE";
    case 0x4207:
      return "PTRACE_INTERRUPT";
  }
  return nullptr;
}

const char* BpfCommand(int64_t c) {
  static const char* kNames[] = {
      "BPF_MAP_CREATE",       "BPF_MAP_LOOKUP_ELEM", "BPF_MAP_UPDATE_ELEM", "BPF_MAP_DELETE_ELEM",
      "BPF_MAP_GET_NEXT_KEY", "BPF_PROG_LOAD",       "BPF_OBJ_PIN",         "BPF_OBJ_GET",
      "BPF_PROG_ATTACH",      "BPF_PROG_DETACH"};
  return c >= 0 && c < 10 ? kNames[c] : nullptr;
}

std::string Named(const char* name, int64_t v) { return name ? name : std::to_string(v); }

}  // namespace

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s.substr(0, 256)) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += absl::StrCat("\\x", absl::Hex(c, absl::kZeroPad2));
    } else {
      out += static_cast<char>(c);  // UTF-8 passes through
    }
  }
  return out + "\"";
}

std::vector<std::string> EventArgv(const clawos_event& e) {
  std::vector<std::string> argv;
  if (e.argv_flat) {
    size_t len = std::min<size_t>(e.argv_len, sizeof(e.argv));
    size_t start = 0;
    for (size_t i = 0; i < len; ++i) {
      if (e.argv[i] == 0) {
        argv.emplace_back(e.argv + start, i - start);
        start = i + 1;
      }
    }
    if (start < len) argv.emplace_back(e.argv + start, len - start);
    return argv;
  }
  for (int i = 0; i < CLAWOS_ARGV_SLOTS; ++i) {
    const char* slot = e.argv + i * CLAWOS_ARGV_SLOT;
    if (!slot[0]) break;
    argv.push_back(Str(slot, CLAWOS_ARGV_SLOT));
  }
  return argv;
}

std::string ArgsSummary(const clawos_event& e) {
  const auto* a = e.args;
  auto i = [&](int n) { return static_cast<int64_t>(a[n]); };
  std::string str = Quote(Str(e.str, sizeof(e.str)));
  std::string name = SyscallName(e.nr);
  auto argv = [&] {
    std::vector<std::string> q;
    for (const auto& s : EventArgv(e)) q.push_back(Quote(s));
    return absl::StrCat("[", absl::StrJoin(q, ","), "]");
  };
  if (name == "execve" || name == "execveat") return absl::StrCat("path=", str, " argv=", argv());
  if (name == "open") return absl::StrCat("path=", str, " flags=", OpenFlags(a[1]));
  if (name == "openat" || name == "openat2") {
    std::string s = absl::StrCat("dfd=", Fd(static_cast<int32_t>(a[0])), " path=", str);
    if (name == "openat") {
      absl::StrAppend(&s, " flags=", OpenFlags(a[2]));
      if (a[2] & O_CREAT) absl::StrAppend(&s, " mode=0", absl::StrFormat("%o", a[3] & 07777));
    }
    return s;
  }
  if (name == "connect") return absl::StrCat("fd=", i(0), " addr=", SockAddr(e));
  if (name == "ptrace") {
    return absl::StrCat("request=", Named(PtraceRequest(i(0)), i(0)), " pid=", i(1));
  }
  if (name == "mount") {
    return absl::StrCat("source=", str, " target=", Quote(Str(e.str2, sizeof(e.str2))),
                        " fstype=", Quote(Str(e.argv, CLAWOS_ARGV_SLOT)), " flags=0x",
                        absl::Hex(a[3]));
  }
  if (name == "bpf") return absl::StrCat("cmd=", Named(BpfCommand(i(0)), i(0)));
  if (name == "init_module") return absl::StrCat("len=", a[1], " params=", str);
  if (name == "finit_module") {
    return absl::StrCat("fd=", i(0), " params=", str, " flags=", i(2));
  }
  if (name == "setuid" || name == "setgid") {
    return absl::StrCat(name == "setuid" ? "uid=" : "gid=", static_cast<int32_t>(a[0]));
  }
  if (name == "setreuid" || name == "setregid") {
    return absl::StrCat("real=", static_cast<int32_t>(a[0]),
                        " effective=", static_cast<int32_t>(a[1]));
  }
  if (name == "setresuid" || name == "setresgid") {
    return absl::StrCat("real=", static_cast<int32_t>(a[0]),
                        " effective=", static_cast<int32_t>(a[1]),
                        " saved=", static_cast<int32_t>(a[2]));
  }
  if (name == "kill")
    return absl::StrCat("pid=", static_cast<int32_t>(a[0]), " sig=", Signal(i(1)));
  if (name == "tkill")
    return absl::StrCat("tid=", static_cast<int32_t>(a[0]), " sig=", Signal(i(1)));
  if (name == "tgkill") {
    return absl::StrCat("tgid=", static_cast<int32_t>(a[0]), " tid=", static_cast<int32_t>(a[1]),
                        " sig=", Signal(i(2)));
  }
  return absl::StrCat("a0=0x", absl::Hex(a[0]), " a1=0x", absl::Hex(a[1]), " a2=0x",
                      absl::Hex(a[2]));
}

v1::Event Decode(const clawos_event& e, const TargetNames& names) {
  v1::Event out;
  // The kernel stamps CLOCK_MONOTONIC; carry it over to wall-clock time.
  timespec mono{}, real{};
  clock_gettime(CLOCK_MONOTONIC, &mono);
  clock_gettime(CLOCK_REALTIME, &real);
  int64_t mono_ns = mono.tv_sec * 1000000000LL + mono.tv_nsec;
  int64_t real_ns = real.tv_sec * 1000000000LL + real.tv_nsec;
  *out.mutable_time() =
      ToProtoTime(absl::FromUnixNanos(real_ns - (mono_ns - static_cast<int64_t>(e.time_ns))));
  out.set_target(names.target);
  out.set_vm(names.vm);
  out.set_agent_subject(names.agent_subject);
  out.set_pid(static_cast<int32_t>(e.pid));
  out.set_tid(static_cast<int32_t>(e.tid));
  out.set_ppid(static_cast<int32_t>(e.ppid));
  out.set_uid(e.uid);
  out.set_comm(Str(e.comm, sizeof(e.comm)));
  out.set_severity(v1::SEVERITY_INFO);
  switch (e.kind) {
    case CLAWOS_EV_SYSCALL: {
      out.set_kind(v1::Event::SYSCALL);
      auto* s = out.mutable_syscall();
      s->set_nr(e.nr);
      s->set_name(SyscallName(e.nr));
      s->set_args_summary(ArgsSummary(e));
      if (e.policy & CLAWOS_POL_AT_ENTRY) {
        s->set_at_entry(true);
      } else {
        s->set_return_value(e.ret);
      }
      if (s->name() == "execve" || s->name() == "execveat") {
        out.set_filename(Str(e.str, sizeof(e.str)));
        for (auto& a : EventArgv(e)) out.add_argv(std::move(a));
      }
      break;
    }
    case CLAWOS_EV_FORK:
      out.set_kind(v1::Event::PROCESS_FORK);
      out.set_child_pid(e.child_pid);
      break;
    case CLAWOS_EV_EXEC:
      out.set_kind(v1::Event::PROCESS_EXEC);
      out.set_filename(Str(e.str, sizeof(e.str)));
      for (auto& a : EventArgv(e)) out.add_argv(std::move(a));
      break;
    case CLAWOS_EV_EXIT:
      out.set_kind(v1::Event::PROCESS_EXIT);
      out.set_exit_code(e.exit_code);
      break;
  }
  return out;
}

}  // namespace clawos::monitor
