#include "monitor/tracefs.h"

#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "monitor/syscalls.h"

namespace clawos::monitor {
namespace {

constexpr const char* kTracefs = "/sys/kernel/tracing";
constexpr const char* kDebugTracefs = "/sys/kernel/debug/tracing";

// Calls whose tracepoint is named after the kernel's function, not the
// x86-64 table.
std::string TracepointName(const std::string& name) {
  static const std::map<std::string, std::string> kAliases = {
      {"umount2", "umount"}, {"uname", "newuname"}, {"stat", "newstat"},
      {"lstat", "newlstat"}, {"fstat", "newfstat"}, {"sendfile", "sendfile64"},
  };
  auto it = kAliases.find(name);
  return it == kAliases.end() ? name : it->second;
}

bool HasSyscallEvents(const std::string& root) {
  return access((root + "/events/syscalls").c_str(), R_OK) == 0;
}

absl::StatusOr<std::map<int, int>> ReadIds(const std::string& root) {
  std::map<int, int> ids;
  for (int nr = 0; nr < 1024; ++nr) {
    std::string name = SyscallName(nr);
    if (name.rfind("syscall_", 0) == 0) continue;
    std::ifstream in(absl::StrCat(root, "/events/syscalls/sys_exit_", TracepointName(name), "/id"));
    int id = 0;
    if (in >> id) ids[nr] = id;
  }
  if (ids.empty()) {
    return absl::NotFoundError(absl::StrCat(root, "/events/syscalls has no sys_exit_* events"));
  }
  return ids;
}

absl::Status Errno(const std::string& what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", strerror(errno)));
}

// Runs on its own thread: unshare(CLONE_NEWNS) moves only this thread into
// the new namespace, and the namespace (with its mount) goes when it ends.
absl::StatusOr<std::map<int, int>> ReadInPrivateMount() {
  if (unshare(CLONE_NEWNS) != 0) return Errno("unshare(CLONE_NEWNS) for a private tracefs");
  // Nothing mounted here may propagate back to the host.
  if (mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) {
    return Errno("making the private mount namespace a slave");
  }
  if (mount("tracefs", kTracefs, "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    return Errno(absl::StrCat("mounting tracefs on ", kTracefs));
  }
  auto ids = ReadIds(kTracefs);
  umount2(kTracefs, MNT_DETACH);
  return ids;
}

}  // namespace

absl::StatusOr<std::map<int, int>> SyscallExitTracepoints() {
  for (const char* root : {kTracefs, kDebugTracefs}) {
    if (HasSyscallEvents(root)) return ReadIds(root);
  }
  absl::StatusOr<std::map<int, int>> out = absl::UnknownError("not run");
  std::thread([&out] { out = ReadInPrivateMount(); }).join();
  return out;
}

}  // namespace clawos::monitor
