// What a jail is: one program (a VMM, or a test's probe) confined to an
// unprivileged uid, its own namespaces, a filesystem of only what is bound
// into it, no capabilities, Landlock, a seccomp denylist and rlimits. The
// spec is agnostic of the program. clawos-jailer takes it as flags (JailArgs
// writes them, ParseJailArgs reads them) and applies it (jail.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace clawos::jail {

struct JailMount {
  std::string source;     // host path: a file, directory or character device
  std::string target;     // absolute path inside the jail
  bool writable = false;  // else read-only
  bool exec = false;      // programs and libraries may be executed/mapped from it
  // A character device: made anew in the jail (same device number), owned
  // by the jail's uid, mode 0600, instead of bound.
  bool device = false;
};

struct JailSpec {
  // An empty host directory: the jail's / is a small tmpfs mounted over it in
  // the jail's own mount namespace (nothing of it is visible to the host).
  std::string root;
  uint32_t uid = 0;  // unprivileged, never 0
  uint32_t gid = 0;  // never 0; there are no supplementary groups
  std::vector<JailMount> mounts;
  // A network namespace to join (a /run/netns/<name> path); empty: a new,
  // empty one (loopback down, no interfaces).
  std::string netns;
  uint64_t nofile = 1024;  // RLIMIT_NOFILE
  uint64_t nproc = 512;    // RLIMIT_NPROC (threads count: they are tasks of the uid)
  // Landlock on top of the mounts; where the kernel has none, the jail goes on
  // with a warning on stderr. Off only for debugging.
  bool landlock = true;
  std::string hostname = "clawos-jail";
  // Host path where the jailer writes the program's pid (host view) once it
  // executed; empty: stdout only.
  std::string pid_file;
  std::vector<int> keep_fds;      // inherited descriptors the program keeps (all others are closed)
  std::vector<std::string> env;   // KEY=VALUE, the program's whole environment
  std::vector<std::string> argv;  // argv[0]: the program's path inside the jail
};

// INVALID_ARGUMENT naming the first bad field.
absl::Status ValidateJailSpec(const JailSpec& spec);

// The flags clawos-jailer takes for `spec` (its program after "--").
std::vector<std::string> JailArgs(const JailSpec& spec);
// The reverse; INVALID_ARGUMENT for an unknown flag, a missing value or a bad spec.
absl::StatusOr<JailSpec> ParseJailArgs(const std::vector<std::string>& args);

}  // namespace clawos::jail
