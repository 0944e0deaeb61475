// SetLimits, CloseOtherFds, DropPrivileges (steps.h).
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status.h"
#include "vm-launcher/jail/steps.h"

namespace clawos::jail {
namespace {

absl::Status Errno(std::string_view what) { return ErrnoStatus(errno, what); }

absl::Status Limit(int resource, rlim_t value, const char* name) {
  struct rlimit r {
    value, value
  };
  if (::setrlimit(resource, &r) != 0) return Errno(absl::StrCat("jail: setrlimit ", name));
  return absl::OkStatus();
}

// Empties all three capability sets.
absl::Status ClearCaps() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capset, &header, data) != 0) return Errno("jail: capset");
  return absl::OkStatus();
}

absl::Status CheckNoCaps() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return Errno("jail: capget");
  for (const auto& d : data) {
    if (d.effective || d.permitted || d.inheritable) {
      return absl::InternalError("jail: capabilities left after dropping them");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SetLimits(const JailSpec& spec) {
  RETURN_IF_ERROR(Limit(RLIMIT_NOFILE, spec.nofile, "NOFILE"));
  RETURN_IF_ERROR(Limit(RLIMIT_NPROC, spec.nproc, "NPROC"));
  return Limit(RLIMIT_CORE, 0, "CORE");
}

absl::Status CloseOtherFds(const JailSpec& spec, int also_keep) {
  std::vector<int> keep = spec.keep_fds;
  keep.push_back(also_keep);
  std::sort(keep.begin(), keep.end());
  unsigned int from = 3;
  for (int fd : keep) {
    if (fd < 3) continue;
    if (static_cast<unsigned>(fd) > from &&
        ::syscall(SYS_close_range, from, static_cast<unsigned>(fd) - 1, 0) != 0) {
      return Errno("jail: close_range");
    }
    from = std::max(from, static_cast<unsigned>(fd) + 1);
  }
  if (::syscall(SYS_close_range, from, UINT_MAX, 0) != 0) return Errno("jail: close_range");
  return absl::OkStatus();
}

absl::Status DropPrivileges(const JailSpec& spec) {
  for (int cap = 0; cap <= 63; ++cap) {  // stops at the first the kernel does not know
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      if (errno == EINVAL) break;
      return Errno(absl::StrCat("jail: dropping capability ", cap, " from the bounding set"));
    }
  }
  // Locked: uid 0 gets no capabilities from exec, the uid switch below does
  // not touch capabilities (they are cleared explicitly after it), none can
  // be kept or raised as ambient, and none of this can be undone.
  const int bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                   SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                   SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
  if (::prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) != 0) return Errno("jail: locking securebits");
  if (::setgroups(0, nullptr) != 0) return Errno("jail: dropping supplementary groups");
  if (::setresgid(spec.gid, spec.gid, spec.gid) != 0) return Errno("jail: setresgid");
  if (::setresuid(spec.uid, spec.uid, spec.uid) != 0) return Errno("jail: setresuid");
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) {
    return Errno("jail: clearing ambient capabilities");
  }
  RETURN_IF_ERROR(ClearCaps());
  RETURN_IF_ERROR(CheckNoCaps());
  if (::getuid() != spec.uid || ::geteuid() != spec.uid || ::getgid() != spec.gid ||
      ::getgroups(0, nullptr) != 0) {
    return absl::InternalError("jail: identity not switched");
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Errno("jail: PR_SET_NO_NEW_PRIVS");
  return absl::OkStatus();
}

}  // namespace clawos::jail
