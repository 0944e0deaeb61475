// The monitor's BPF programs in the real kernel: a child placed in a fresh
// test cgroup makes known system calls; the in-kernel counts and the detailed
// events match exactly, and the parent outside the cgroup is not seen.
#include "monitor/bpf_monitor.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <vector>

#include "absl/time/clock.h"
#include "common/testing/test_cgroup.h"
#include "monitor/syscalls.h"
#include "monitor/tracefs.h"

namespace clawos::monitor {
namespace {

using clawos::testing::TestCgroup;

// Runs `body` in a child born in `cg` (clone3 with CLONE_INTO_CGROUP): every
// call the child makes is in the target and none of the parent's is, whatever
// the timing (a fork followed by a move would count the child's calls up to
// the move, or not, as the scheduler pleases). Returns its pid and wait status
// (-1: it could not start).
std::pair<pid_t, int> RunInCgroup(const TestCgroup& cg, const std::function<void()>& body) {
  int dir = open(cg.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return {-1, -1};
  clone_args args{};
  args.flags = CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = static_cast<uint64_t>(dir);
  long pid = syscall(SYS_clone3, &args, sizeof(args));
  if (pid == 0) {
    body();  // `dir` stays open: closing it here would be a counted call
    _exit(0);
  }
  close(dir);
  if (pid < 0) return {-1, -1};
  int status = 0;
  if (waitpid(static_cast<pid_t>(pid), &status, 0) != pid) return {static_cast<pid_t>(pid), -1};
  return {static_cast<pid_t>(pid), status};
}

// Each case runs with both kinds of exit hook: per detailed call
// (syscalls:sys_exit_<name>) and the generic sys_exit program.
class BpfMonitorTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "SKIPPED: loading BPF programs needs root";
    bool generic = GetParam();
    bool tracefs_before = access("/sys/kernel/tracing/events", F_OK) == 0;
    if (!generic) {
      if (auto ids = SyscallExitTracepoints(); !ids.ok()) {
        GTEST_SKIP() << "SKIPPED: no per-call exit tracepoints here: " << ids.status();
      }
    }
    BpfMonitor::Options options;
    options.generic_exit = generic;
    auto m = BpfMonitor::Open(options, [this](const clawos_event& e) {
      std::lock_guard lock(mu_);
      events_.push_back(e);
    });
    ASSERT_TRUE(m.ok()) << m.status();
    monitor_ = std::move(*m);
    EXPECT_EQ(monitor_->ExitHooks(), generic ? "generic" : "per-call");
    EXPECT_EQ(access("/sys/kernel/tracing/events", F_OK) == 0, tracefs_before)
        << "the host's mounts are left as they were";
    ASSERT_NE(cg_.id(), 0u) << "could not make a test cgroup";
    ASSERT_TRUE(monitor_->AddTarget(cg_.id(), 3).ok());
  }
  // Drains the ring buffer until `done` holds on the events (or 5 s pass).
  std::vector<clawos_event> Events(
      const std::function<bool(const std::vector<clawos_event>&)>& done) {
    for (int i = 0; i < 100; ++i) {
      monitor_->Poll(50).IgnoreError();
      std::lock_guard lock(mu_);
      if (done(events_)) break;
    }
    std::lock_guard lock(mu_);
    return events_;
  }

  TestCgroup cg_{"clawos-monitor-test"};
  std::unique_ptr<BpfMonitor> monitor_;
  std::mutex mu_;
  std::vector<clawos_event> events_;
};

TEST_P(BpfMonitorTest, CountsExactlyAndOnlyInTheTarget) {
  ASSERT_TRUE(monitor_->SetPolicy(3, SyscallNumber("openat"), CLAWOS_POL_DETAIL).ok());
  auto [pid, status] = RunInCgroup(cg_, [] {
    for (int i = 0; i < 1000; ++i) syscall(SYS_getppid);
    for (int i = 0; i < 7; ++i) close(open("/etc/hostname", O_RDONLY));
  });
  ASSERT_NE(status, -1);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  for (int i = 0; i < 500; ++i) syscall(SYS_getppid);  // outside: not counted

  auto counts = monitor_->Counts(3);
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ((*counts)[SyscallNumber("getppid")], 1000u);
  EXPECT_EQ((*counts)[SyscallNumber("openat")], 7u);
  EXPECT_EQ((*counts)[SyscallNumber("close")], 7u);
  EXPECT_EQ((*counts)[SyscallNumber("exit_group")], 1u);

  auto events = Events([&](const auto& ev) {
    int n = 0;
    for (const auto& e : ev) n += e.kind == CLAWOS_EV_EXIT;
    return n >= 1;
  });
  int opens = 0, exits = 0;
  for (const auto& e : events) {
    EXPECT_EQ(e.target, 3u);
    EXPECT_EQ(static_cast<pid_t>(e.pid), pid) << "only the child is in the target";
    if (e.kind == CLAWOS_EV_SYSCALL) {
      ++opens;
      EXPECT_EQ(e.nr, SyscallNumber("openat"));
      EXPECT_STREQ(e.str, "/etc/hostname");
      EXPECT_EQ(e.args[2] & O_ACCMODE, static_cast<uint64_t>(O_RDONLY));
      EXPECT_GE(e.ret, 0) << "the return value, read at the call's exit";
      EXPECT_EQ(e.ppid, static_cast<uint32_t>(getpid()));
    }
    if (e.kind == CLAWOS_EV_EXIT) {
      ++exits;
      EXPECT_EQ(e.exit_code, 0);
    }
  }
  EXPECT_EQ(opens, 7);
  EXPECT_EQ(exits, 1);
  auto stats = monitor_->Stats(3);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->events_dropped, 0u);
  EXPECT_EQ(stats->events_emitted, 8u);
}

TEST_P(BpfMonitorTest, ForkExecAndArgv) {
  ASSERT_TRUE(monitor_->SetPolicy(3, SyscallNumber("execve"), CLAWOS_POL_DETAIL).ok());
  auto [pid, status] = RunInCgroup(cg_, [] {
    pid_t c = fork();
    if (c == 0) {
      execl("/bin/sh", "/bin/sh", "-c", "exit 3", static_cast<char*>(nullptr));
      _exit(99);
    }
    int st = 0;
    waitpid(c, &st, 0);
    _exit(WEXITSTATUS(st) == 3 ? 0 : 1);
  });
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  auto events = Events([](const auto& ev) {
    int n = 0;
    for (const auto& e : ev) n += e.kind == CLAWOS_EV_EXIT;
    return n >= 2;
  });
  int forks = 0, execve = 0, execs = 0, exit3 = 0;
  pid_t grandchild = 0;
  for (const auto& e : events) {
    if (e.kind == CLAWOS_EV_FORK) {
      ++forks;
      EXPECT_EQ(static_cast<pid_t>(e.pid), pid);
      grandchild = e.child_pid;
    }
    if (e.kind == CLAWOS_EV_SYSCALL && e.nr == SyscallNumber("execve")) {
      ++execve;
      EXPECT_STREQ(e.str, "/bin/sh");
      EXPECT_EQ(e.argv_flat, 1u);
      EXPECT_EQ(std::string(e.argv, e.argv_len), std::string("/bin/sh\0-c\0exit 3\0", 18));
      EXPECT_EQ(e.ret, 0);
    }
    if (e.kind == CLAWOS_EV_EXEC) {
      ++execs;
      EXPECT_STREQ(e.str, "/bin/sh");
      EXPECT_EQ(std::string(e.argv, e.argv_len), std::string("/bin/sh\0-c\0exit 3\0", 18));
    }
    if (e.kind == CLAWOS_EV_EXIT && e.exit_code == 3) ++exit3;
  }
  EXPECT_EQ(forks, 1);
  EXPECT_NE(grandchild, 0);
  EXPECT_EQ(execve, 1);
  EXPECT_EQ(execs, 1);
  EXPECT_EQ(exit3, 1) << "the grandchild's exit code";
  auto stats = monitor_->Stats(3).value();
  EXPECT_EQ(stats.forks, 1u);
  EXPECT_EQ(stats.execs, 1u);
}

// A detailed call the kernel may have no exit tracepoint for (init_module
// on a kernel without modules): per-call hooks make its event at entry.
TEST_P(BpfMonitorTest, CallsWithoutAnExitTracepointAreDetailedAtEntry) {
  const int nr = SyscallNumber("init_module");
  ASSERT_TRUE(monitor_->SetPolicy(3, nr, CLAWOS_POL_DETAIL).ok());
  auto [pid, status] = RunInCgroup(cg_, [] {
    // The string is on the stack: BPF cannot fault in a page nobody touched.
    char params[] = "clawos_param=1";
    syscall(SYS_init_module, nullptr, 0, params);  // fails: no image
  });
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  auto events = Events([&](const auto& ev) {
    for (const auto& e : ev) {
      if (e.kind == CLAWOS_EV_SYSCALL && e.nr == nr) return true;
    }
    return false;
  });
  bool at_entry = false;
  if (!GetParam()) {
    auto ids = SyscallExitTracepoints();
    ASSERT_TRUE(ids.ok());
    at_entry = ids->count(nr) == 0;
  }
  int seen = 0;
  for (const auto& e : events) {
    if (e.kind != CLAWOS_EV_SYSCALL || e.nr != nr) continue;
    ++seen;
    EXPECT_EQ(static_cast<pid_t>(e.pid), pid);
    EXPECT_STREQ(e.str, "clawos_param=1");
    EXPECT_EQ((e.policy & CLAWOS_POL_AT_ENTRY) != 0, at_entry);
    if (!at_entry) EXPECT_LT(e.ret, 0) << "init_module of no image fails";
  }
  EXPECT_EQ(seen, 1);
}

TEST_P(BpfMonitorTest, EnforcementKillsTheCaller) {
  ASSERT_TRUE(monitor_->SetPolicy(3, SyscallNumber("getpgid"), CLAWOS_POL_KILL).ok());
  auto [pid, status] = RunInCgroup(cg_, [] {
    syscall(SYS_getpgid, 0);
    _exit(0);  // not reached
  });
  EXPECT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  EXPECT_EQ(monitor_->Stats(3).value().kills, 1u);
  syscall(SYS_getpgid, 0);  // outside the target: nothing happens
}

// Tasks cache their target row: moving between cgroups and targets added
// while a task runs must still count exactly.
TEST_P(BpfMonitorTest, CgroupMovesAndNewTargetsCountExactly) {
  TestCgroup other("clawos-monitor-test-other");
  ASSERT_TRUE(other.ok());
  int to_child[2], to_parent[2];
  ASSERT_EQ(pipe(to_child), 0);
  ASSERT_EQ(pipe(to_parent), 0);
  pid_t pid = fork();
  if (pid == 0) {
    char c;
    // Each step: wait for the parent, make calls, report back.
    for (int calls : {10, 100, 1000, 50}) {
      if (read(to_child[0], &c, 1) != 1) _exit(100);
      for (int i = 0; i < calls; ++i) syscall(SYS_getppid);
      if (write(to_parent[1], "d", 1) != 1) _exit(101);
    }
    _exit(0);
  }
  auto step = [&] {
    char c;
    ASSERT_EQ(write(to_child[1], "g", 1), 1);
    ASSERT_EQ(read(to_parent[0], &c, 1), 1);
  };
  ASSERT_TRUE(other.Add(pid));
  step();  // 10 calls in `other`, not a target: the child caches "none"
  ASSERT_TRUE(cg_.Add(pid));
  step();  // 100 calls in the target
  ASSERT_TRUE(other.Add(pid));
  step();  // 1000 calls back in `other`
  ASSERT_TRUE(monitor_->AddTarget(other.id(), 5).ok());
  step();  // 50 calls in `other`, now a target
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_EQ(monitor_->Counts(3).value()[SyscallNumber("getppid")], 100u);
  EXPECT_EQ(monitor_->Counts(5).value()[SyscallNumber("getppid")], 50u);
  ASSERT_TRUE(monitor_->RemoveTarget(other.id(), 5).ok());
}

TEST_P(BpfMonitorTest, RemovedTargetsAreNotCounted) {
  ASSERT_TRUE(monitor_->RemoveTarget(cg_.id(), 3).ok());
  auto [pid, status] = RunInCgroup(cg_, [] {
    for (int i = 0; i < 100; ++i) syscall(SYS_getppid);
  });
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(monitor_->Counts(3).value()[SyscallNumber("getppid")], 0u);
  EXPECT_EQ(monitor_->AddTarget(cg_.id(), 3).code(), absl::StatusCode::kOk);
  EXPECT_EQ(monitor_->AddTarget(cg_.id(), 4).code(), absl::StatusCode::kAlreadyExists);
}

INSTANTIATE_TEST_SUITE_P(ExitHooks, BpfMonitorTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Generic" : "PerCall"; });

}  // namespace
}  // namespace clawos::monitor
