#include "vm-launcher/jail/jail.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status.h"
#include "vm-launcher/jail/steps.h"

namespace clawos::jail {
namespace {

void WriteAll(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    s.remove_prefix(static_cast<size_t>(n));
  }
}

absl::Status EnterNamespaces(const JailSpec& spec);

// The jailed child: pid 1 of the new pid namespace. Reports to `out`
// "L<abi> <warning>\n" before it executes the program, "E<error>" when a
// step fails (then exits); the parent sees EOF once the program runs.
[[noreturn]] void ChildMain(const JailSpec& spec, int out) {
  auto check = [out](const absl::Status& s) {
    if (s.ok()) return;
    WriteAll(out, absl::StrCat("E", s.message()));
    ::_exit(126);
  };
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  check(EnterNamespaces(spec));
  check(BuildFilesystem(spec));
  if (::sethostname(spec.hostname.data(), spec.hostname.size()) != 0) {
    check(ErrnoStatus(errno, "jail: sethostname"));
  }
  check(SetLimits(spec));
  check(CloseOtherFds(spec, out));
  check(DropPrivileges(spec));
  auto landlock = ApplyLandlock(spec);
  check(landlock.status());
  WriteAll(out, absl::StrCat("L", landlock->abi, " ", landlock->warning, "\n"));
  check(InstallSeccompFilter());
  std::vector<char*> argv, envp;
  for (const std::string& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  for (const std::string& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  argv.push_back(nullptr);
  envp.push_back(nullptr);
  ::execve(argv[0], argv.data(), envp.data());
  check(ErrnoStatus(errno, absl::StrCat("jail: executing ", spec.argv[0])));
  ::_exit(126);
}

// All but the pid namespace, which the parent made (a process cannot move
// itself into a new one). The child's own mount namespace: its pivot_root
// must not move the jailer's root.
absl::Status EnterNamespaces(const JailSpec& spec) {
  int flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
  if (spec.netns.empty()) {
    flags |= CLONE_NEWNET;
  } else {
    int fd = ::open(spec.netns.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, absl::StrCat("jail: opening netns ", spec.netns));
    int rc = ::setns(fd, CLONE_NEWNET);
    int err = errno;
    ::close(fd);
    if (rc != 0) return ErrnoStatus(err, absl::StrCat("jail: joining netns ", spec.netns));
  }
  if (::unshare(flags) != 0) return ErrnoStatus(errno, "jail: unshare");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Jailed> RunJailed(const JailSpec& spec) {
  RETURN_IF_ERROR(ValidateJailSpec(spec));
  if (::unshare(CLONE_NEWPID) != 0) return ErrnoStatus(errno, "jail: unshare(CLONE_NEWPID)");
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return ErrnoStatus(errno, "jail: pipe");
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoStatus(errno, "jail: fork");
  if (pid == 0) {
    ::close(p[0]);
    ChildMain(spec, p[1]);
  }
  ::close(p[1]);
  std::string report;
  char buf[1024];
  while (report.size() < 8192) {
    ssize_t n = ::read(p[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    report.append(buf, static_cast<size_t>(n));
  }
  ::close(p[0]);
  Jailed j;
  j.pid = pid;
  // "L<abi> <warning>\n" and then, when exec failed, "E<error>"; or "E<error>" alone.
  size_t eol = report[0] == 'L' ? report.find('\n') : std::string::npos;
  std::string error =
      report[0] == 'E' ? report.substr(1)
      : eol != std::string::npos && eol + 1 < report.size() && report[eol + 1] == 'E'
          ? report.substr(eol + 2)
          : "";
  if (report.empty() || !error.empty()) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    if (report.empty()) return absl::InternalError("jail: the child died before reporting");
    return absl::FailedPreconditionError(error);
  }
  size_t space = report.find(' ');
  if (eol == std::string::npos || space > eol ||
      !absl::SimpleAtoi(report.substr(1, space - 1), &j.landlock_abi)) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return absl::InternalError(absl::StrCat("jail: bad report from the child: ", report));
  }
  j.warning = report.substr(space + 1, eol - space - 1);
  return j;
}

}  // namespace clawos::jail
