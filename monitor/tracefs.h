// The ids of the per-call exit tracepoints (syscalls:sys_exit_<name>), read
// from tracefs. When tracefs is not mounted on the host, it is mounted in a
// private mount namespace of a short-lived thread, so the host's mounts are
// left as they are.
#pragma once

#include <map>

#include "absl/status/statusor.h"

namespace clawos::monitor {

// System call number → tracepoint id, for every call whose exit tracepoint
// the kernel has. Fails when the kernel has no syscall tracepoints
// (CONFIG_FTRACE_SYSCALLS) or tracefs cannot be mounted.
absl::StatusOr<std::map<int, int>> SyscallExitTracepoints();

}  // namespace clawos::monitor
