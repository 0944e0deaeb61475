// The launcher's side of the VMM jail: clawos-jailer found at Open, a uid
// per VM, and each start's jail (vmm_jail.h).
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/log.h"
#include "common/status.h"
#include "vm-launcher/launcher.h"

namespace clawos::launcher {
namespace {

// Read-only files the VMM opens as its uid must be readable by it: image
// files are public, signed artefacts, meant to be world-readable.
absl::Status CheckReadableBy(const std::string& path, uint32_t uid) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, path);
  if ((st.st_mode & S_IROTH) || (st.st_uid == uid && (st.st_mode & S_IRUSR))) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      path, " is not readable by the VM's jailed QEMU (mode ", absl::Hex(st.st_mode & 07777),
      "): image files must be world-readable (chmod a+r)"));
}

absl::Status HandTo(const std::string& path, uint32_t uid) {
  if (::chown(path.c_str(), uid, uid) != 0) {
    return ErrnoStatus(errno, absl::StrCat("giving ", path, " to uid ", uid));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Launcher::SetUpJail() {
  if (config_.jail_uid_first == 0 || config_.jail_uid_first > config_.jail_uid_last) {
    return absl::InvalidArgumentError("--jail-uid-range must be FIRST-LAST with 0 < FIRST <= LAST");
  }
  if (::geteuid() != 0) {
    return absl::FailedPreconditionError(
        "jailing VMMs needs root (namespaces, mounts, uid switch); --jail off is for debugging");
  }
  if (config_.jailer.empty()) {
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    config_.jailer = self.parent_path().string() + "/clawos-jailer";
  }
  if (::access(config_.jailer.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "clawos-jailer not found at ", config_.jailer,
        " (install it beside the launcher or pass --jailer; --jail off is for debugging only)"));
  }
  qemu_runtime_ = FindQemuRuntime();
  if (!qemu_runtime_.ok()) {  // as without a jail: a start then fails with this
    log::Warn("QEMU not found", {{"error", qemu_runtime_.status().ToString()}});
  }
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> Launcher::AllocateJailUid() const {
  std::set<uint32_t> used;
  for (const Vm& vm : store_->List()) used.insert(vm.jail_uid);
  for (uint64_t uid = config_.jail_uid_first; uid <= config_.jail_uid_last; ++uid) {
    if (!used.count(static_cast<uint32_t>(uid))) return static_cast<uint32_t>(uid);
  }
  return absl::ResourceExhaustedError(absl::StrCat("every uid of the jail range ",
                                                   config_.jail_uid_first, "-",
                                                   config_.jail_uid_last, " is held by a VM"));
}

absl::StatusOr<JailLaunch> Launcher::PrepareJail(const Vm& vm, const QemuConfig& host) {
  RETURN_IF_ERROR(qemu_runtime_.status());
  const std::string& name = vm.spec.name;
  const uint32_t uid = vm.jail_uid;
  if (uid == 0) return absl::InternalError(absl::StrCat("VM ", name, " has no jail uid"));
  RETURN_IF_ERROR(MakeDirs(RunDir(name), 0700));
  RETURN_IF_ERROR(HandTo(RunDir(name), uid));
  if (PathExists(host.console_log)) RETURN_IF_ERROR(HandTo(host.console_log, uid));
  for (const QemuDisk& d : host.disks) {
    RETURN_IF_ERROR(d.readonly ? CheckReadableBy(d.path, uid) : HandTo(d.path, uid));
  }
  RETURN_IF_ERROR(CheckReadableBy(host.kernel, uid));
  RETURN_IF_ERROR(CheckReadableBy(host.initrd, uid));
  RETURN_IF_ERROR(MakeDirs(VmDir(name) + "/jail", 0700));
  ASSIGN_OR_RETURN(JailedVmm jailed,
                   JailVmm(host, {uid, VmDir(name), RunDir(name), *qemu_runtime_}));
  return JailLaunch{config_.jailer, std::move(jailed.spec)};
}

}  // namespace clawos::launcher
