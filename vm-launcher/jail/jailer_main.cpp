// clawos-jailer: runs one program in a jail (jail_spec.h) and exits once it
// executed, writing its pid to --pid-file (or stdout). Usage:
//   clawos-jailer --root DIR --uid N --gid N [--ro|--rw|--exec|--dev SRC DST]...
//     [--netns PATH] [--nofile N] [--nproc N] [--hostname H] [--no-landlock]
//     [--pid-file PATH] [--keep-fd N]... [--env K=V]... -- PROGRAM ARGS...
#include <signal.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "vm-launcher/jail/jail.h"

int main(int argc, char** argv) {
  using namespace clawos;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto spec = jail::ParseJailArgs(args);
  if (!spec.ok()) {
    std::fprintf(stderr, "clawos-jailer: %s\n", std::string(spec.status().message()).c_str());
    return 2;
  }
  auto jailed = jail::RunJailed(*spec);
  if (!jailed.ok()) {
    std::fprintf(stderr, "clawos-jailer: %s\n", std::string(jailed.status().message()).c_str());
    return 1;
  }
  if (!jailed->warning.empty()) {
    std::fprintf(stderr, "clawos-jailer: warning: %s\n", jailed->warning.c_str());
  }
  if (!spec->pid_file.empty()) {
    auto s = WriteFileAtomic(spec->pid_file, absl::StrCat(jailed->pid, "\n"), 0600);
    if (!s.ok()) {
      std::fprintf(stderr, "clawos-jailer: %s\n", std::string(s.message()).c_str());
      ::kill(jailed->pid, SIGKILL);
      return 1;
    }
  }
  std::fprintf(stderr, "clawos-jailer: pid %d runs jailed as uid %u (Landlock ABI %d)\n",
               jailed->pid, spec->uid, jailed->landlock_abi);
  if (spec->pid_file.empty()) std::printf("%d\n", jailed->pid);
  return 0;
}
