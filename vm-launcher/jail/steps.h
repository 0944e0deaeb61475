// The steps of entering a jail, in the order jail.cc applies them in the
// jailed child (already in its new namespaces, pid 1 of its pid namespace).
// Each returns the error of the step that failed, naming it; none may be
// skipped but Landlock, which degrades with a warning where the kernel lacks it.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "vm-launcher/jail/jail_spec.h"

namespace clawos::jail {

// A tmpfs over spec.root holding only the spec's bind mounts, then
// pivot_root into it (the host's tree detached), a /proc of the pid
// namespace that shows only its processes, and / made read-only.
absl::Status BuildFilesystem(const JailSpec& spec);

// RLIMIT_NOFILE, RLIMIT_NPROC and RLIMIT_CORE 0.
absl::Status SetLimits(const JailSpec& spec);

// Closes every descriptor from 3 up except spec.keep_fds and `also_keep`.
absl::Status CloseOtherFds(const JailSpec& spec, int also_keep);

// Clears the capability bounding set, locks the securebits (no root
// semantics, no setuid fix-ups, no ambient raise), drops every supplementary
// group, switches to uid/gid, clears all capability sets and sets
// PR_SET_NO_NEW_PRIVS. Checks that nothing is left.
absl::Status DropPrivileges(const JailSpec& spec);

struct LandlockResult {
  int abi = 0;          // 0: Landlock not applied
  std::string warning;  // why not, when it was asked for
};
// Restricts the filesystem to the jail's own paths with the rights each
// needs, TCP bind/connect to nothing (ABI 4+), and abstract unix sockets and
// signals to the jail's own domain (ABI 6+). Needs PR_SET_NO_NEW_PRIVS.
absl::StatusOr<LandlockResult> ApplyLandlock(const JailSpec& spec);

// A seccomp filter for every jailed program, below the program's own (QEMU
// adds -sandbox): EPERM for the system calls a VMM never needs and an
// attacker wants (bpf, ptrace, mount, namespaces, keyrings, modules, ...),
// ENOSYS for clone3 (whose flags a filter cannot read; libc falls back to
// clone, whose namespace flags are refused), kill for a foreign ABI.
absl::Status InstallSeccompFilter();

}  // namespace clawos::jail
