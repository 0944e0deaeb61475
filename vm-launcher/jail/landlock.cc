// ApplyLandlock (steps.h). Debian 12's headers know Landlock ABI 1-2; the
// rights and fields of later ABIs are spelled out here and used only when
// the running kernel reports that ABI.
#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status.h"
#include "vm-launcher/jail/steps.h"

namespace clawos::jail {
namespace {

// Filesystem rights (linux/landlock.h; ABI 3 adds TRUNCATE, ABI 5 IOCTL_DEV).
constexpr uint64_t kExecute = 1ULL << 0, kWriteFile = 1ULL << 1, kReadFile = 1ULL << 2,
                   kReadDir = 1ULL << 3, kRemoveFile = 1ULL << 5, kMakeReg = 1ULL << 8,
                   kMakeSock = 1ULL << 9, kTruncate = 1ULL << 14, kIoctlDev = 1ULL << 15;
constexpr uint64_t kFileRights = kExecute | kWriteFile | kReadFile | kTruncate | kIoctlDev;
// ABI 4: TCP; ABI 6: scopes.
constexpr uint64_t kBindTcp = 1ULL << 0, kConnectTcp = 1ULL << 1;
constexpr uint64_t kScopeAbstractUnix = 1ULL << 0, kScopeSignal = 1ULL << 1;

struct RulesetAttr {  // struct landlock_ruleset_attr as of ABI 6
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};

uint64_t HandledFs(int abi) {
  uint64_t fs = (1ULL << 13) - 1;  // ABI 1: EXECUTE .. MAKE_SYM
  if (abi >= 2) fs |= 1ULL << 13;  // REFER
  if (abi >= 3) fs |= kTruncate;
  if (abi >= 5) fs |= kIoctlDev;
  return fs;
}

uint64_t RightsFor(const JailMount& m) {
  if (m.device) return kReadFile | kWriteFile | kIoctlDev;
  uint64_t r = kReadFile | kReadDir;
  if (m.exec) r |= kExecute;
  if (m.writable) r |= kWriteFile | kTruncate | kMakeReg | kMakeSock | kRemoveFile;
  return r;
}

absl::Status AddRule(int ruleset, const std::string& path, uint64_t rights, uint64_t handled) {
  int fd = ::open(path.c_str(), O_PATH | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("jail: landlock: opening ", path));
  struct stat st {};
  ::fstat(fd, &st);
  if (!S_ISDIR(st.st_mode)) rights &= kFileRights;
  landlock_path_beneath_attr attr{};
  attr.allowed_access = rights & handled;
  attr.parent_fd = fd;
  long rc = ::syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &attr, 0);
  int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus(err, absl::StrCat("jail: landlock rule for ", path));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LandlockResult> ApplyLandlock(const JailSpec& spec) {
  LandlockResult result;
  if (!spec.landlock) return result;
  long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi < 1) {
    result.warning = absl::StrCat("Landlock is not available (", std::strerror(errno),
                                  "): files are confined by the mount namespace alone");
    return result;
  }
  RulesetAttr attr{HandledFs(static_cast<int>(abi)), 0, 0};
  size_t size = sizeof(uint64_t);
  if (abi >= 4) {
    attr.handled_access_net = kBindTcp | kConnectTcp;  // and no rule allows any port
    size = 2 * sizeof(uint64_t);
  }
  if (abi >= 6) {
    attr.scoped = kScopeAbstractUnix | kScopeSignal;
    size = sizeof(RulesetAttr);
  }
  int ruleset = static_cast<int>(::syscall(SYS_landlock_create_ruleset, &attr, size, 0));
  if (ruleset < 0) return ErrnoStatus(errno, "jail: landlock_create_ruleset");
  absl::Status s = AddRule(ruleset, "/proc", kReadFile | kReadDir, attr.handled_access_fs);
  for (const JailMount& m : spec.mounts) {
    if (s.ok()) s = AddRule(ruleset, m.target, RightsFor(m), attr.handled_access_fs);
  }
  if (s.ok() && ::syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) {
    s = ErrnoStatus(errno, "jail: landlock_restrict_self");
  }
  ::close(ruleset);
  RETURN_IF_ERROR(s);
  result.abi = static_cast<int>(abi);
  return result;
}

}  // namespace clawos::jail
