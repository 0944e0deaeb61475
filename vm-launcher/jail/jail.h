// Entering a jail (jail_spec.h): what clawos-jailer does, as root, in a
// single-threaded process. A child that is pid 1 of a new pid namespace
// enters new mount, ipc, uts, cgroup and network namespaces (or the spec's
// network namespace), applies steps.h in order and executes the program.
// The caller should already be in the cgroup the program belongs in: the
// new cgroup namespace is rooted there.
#pragma once

#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"
#include "vm-launcher/jail/jail_spec.h"

namespace clawos::jail {

struct Jailed {
  pid_t pid = 0;         // the program, as the caller's pid namespace sees it
  int landlock_abi = 0;  // 0: not applied (see warning)
  std::string warning;
};

// Returns once the program executed (its pid) or with the error of the step
// that failed, the child gone. The program is not waited for: when the
// caller exits, it is re-parented (to a subreaper such as the launcher).
absl::StatusOr<Jailed> RunJailed(const JailSpec& spec);

}  // namespace clawos::jail
