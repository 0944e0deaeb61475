#include "vm-launcher/qemu_backend.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/crypto/encoding.h"
#include "common/crypto/sha256.h"
#include "common/log.h"
#include "common/status.h"
#include "vm-launcher/guest_config.h"
#include "vm-launcher/qemu_snapshot.h"
#include "vm-launcher/qemu_vmm.h"
#include "vm-launcher/qmp_client.h"

namespace clawos::launcher {

absl::StatusOr<std::unique_ptr<QemuBackend>> QemuBackend::Create(QemuBackendOptions options) {
  std::unique_ptr<QemuBackend> b(new QemuBackend(std::move(options)));
  QemuBackendOptions& o = b->options_;
  b->runtime_ = FindQemuRuntime();
  if (!o.jail) return b;
  if (::geteuid() != 0) {
    return absl::FailedPreconditionError(
        "jailing VMMs needs root (namespaces, mounts, uid switch); --jail off is for debugging");
  }
  if (o.jailer.empty()) {
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    o.jailer = self.parent_path().string() + "/clawos-jailer";
  }
  if (::access(o.jailer.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "clawos-jailer not found at ", o.jailer,
        " (install it beside the launcher or pass --jailer; --jail off is for debugging only)"));
  }
  if (!b->runtime_.ok()) {  // as without a jail: a start then fails with this
    log::Warn("QEMU not found", {{"error", b->runtime_.status().ToString()}});
  }
  return b;
}

std::string QemuBackend::Identity() const {
  if (!runtime_.ok()) return "";
  struct stat st {};
  if (::stat(runtime_->binary.c_str(), &st) != 0) return "";
  std::string of =
      absl::StrCat(st.st_dev, ":", st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec, ".",
                   st.st_mtim.tv_nsec, ":", st.st_ctim.tv_sec, ".", st.st_ctim.tv_nsec);
  std::lock_guard lock(identity_mu_);
  if (of == identity_of_) return identity_;
  auto sum = crypto::Sha256File(runtime_->binary);
  if (!sum.ok()) return "";
  identity_ = absl::StrCat("qemu-system-x86_64 sha256:", crypto::HexEncode(*sum),
                           " accel=", options_.accel);
  if (options_.accel == "tcg") absl::StrAppend(&identity_, " tsc_khz=", HostTscKhz());
  identity_of_ = of;
  return identity_;
}

absl::StatusOr<std::unique_ptr<Vmm>> QemuBackend::Launch(const VmmRequest& r) {
  if (!r.manifest) return absl::InvalidArgumentError("a VMM request without the image's manifest");
  QemuConfig qc =
      GuestQemuConfig(*r.manifest, {r.image_dir, r.run_dir, r.runtime_disk, r.workspace_disk},
                      r.vcpus, r.memory_mib, options_.accel);
  if (!r.tap.empty()) {
    qc.tap = r.tap;
    qc.mac = r.mac;
    qc.netns = r.netns;
    qc.cmdline += " " + r.guest_cmdline;
  }
  std::vector<int> pass_fds;
  if (r.ram_fd >= 0) {
    qc.ram_fd = 3;  // QEMU's first inherited descriptor
    qc.ram_shared = r.ram_shared;
    qc.incoming = r.state_fd >= 0;
    pass_fds.push_back(r.ram_fd);
  }
  std::optional<JailLaunch> jail;
  if (r.jail_uid != 0) {
    if (!options_.jail) {
      return absl::FailedPreconditionError(
          absl::StrCat("VM ", r.vm, " has a jail uid and this launcher's jail is off"));
    }
    RETURN_IF_ERROR(runtime_.status());
    ASSIGN_OR_RETURN(JailedVmm jailed, JailVmm(qc, {r.jail_uid, r.vm_dir, r.run_dir, *runtime_}));
    jail = JailLaunch{options_.jailer, std::move(jailed.spec)};
    qc.netns.clear();  // the jailer joins it
  }
  ::unlink(qc.console_log.c_str());
  ASSIGN_OR_RETURN(std::unique_ptr<QemuVmm> vmm,
                   QemuVmm::Launch(qc, r.cgroup_procs, r.vm_dir + "/qemu.log",
                                   jail ? &*jail : nullptr, pass_fds));
  if (qc.incoming) RETURN_IF_ERROR(Restore(*vmm, r.state_fd));
  return std::unique_ptr<Vmm>(std::move(vmm));
}

absl::Status QemuBackend::Restore(QemuVmm& vmm, int state_fd) {
  auto qmp = QmpClient::Connect(vmm.config().qmp_socket, absl::Seconds(10));
  absl::Status loaded =
      qmp.ok() ? LoadDeviceState(*qmp, state_fd, absl::Seconds(30)) : qmp.status();
  if (loaded.ok()) return loaded;
  vmm.Kill().IgnoreError();
  std::string said = vmm.ExitMessage();
  return absl::Status(loaded.code(), absl::StrCat("restoring from the template: ", loaded.message(),
                                                  said.empty() ? "" : "; QEMU: ", said));
}

absl::StatusOr<std::unique_ptr<Vmm>> QemuBackend::Adopt(pid_t pid, uint64_t start_time,
                                                        const std::string& vm_dir,
                                                        const std::string& run_dir) {
  QemuConfig qc;
  qc.console_log = run_dir + "/console.log";
  qc.agent_socket = run_dir + "/agent.sock";
  qc.qmp_socket = run_dir + "/qmp.sock";
  ASSIGN_OR_RETURN(std::unique_ptr<QemuVmm> vmm,
                   QemuVmm::Adopt(pid, start_time, qc, vm_dir + "/qemu.log"));
  return std::unique_ptr<Vmm>(std::move(vmm));
}

}  // namespace clawos::launcher
