#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/log.h"
#include "common/status.h"
#include "vm-launcher/host_setup.h"

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
      path, " is not readable by the VM's jailed VMM (mode ", absl::Hex(st.st_mode & 07777),
      "): image files must be world-readable (chmod a+r)"));
}

absl::Status HandTo(const std::string& path, uint32_t uid) {
  if (::chown(path.c_str(), uid, uid) != 0) {
    return ErrnoStatus(errno, absl::StrCat("giving ", path, " to uid ", uid));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<LinuxHostSetup>> LinuxHostSetup::Create(LinuxHostOptions options) {
  std::unique_ptr<LinuxHostSetup> h(new LinuxHostSetup(std::move(options)));
  ASSIGN_OR_RETURN(h->layout_, DetectCgroupLayout(h->options_.cgroup_root));
  if (h->options_.bridge) {
    ASSIGN_OR_RETURN(h->network_, BridgeNetwork::Setup(*h->options_.bridge));
  }
  return h;
}

std::string LinuxHostSetup::CgroupPath(const std::string& vm) const {
  const LinuxHostOptions& o = options_;
  std::string v2 = layout_ == CgroupLayout::kHybrid ? o.cgroup_root + "/unified" : o.cgroup_root;
  return absl::StrCat(v2, "/", o.cgroup_parent, "/", vm);
}

std::optional<VmNic> LinuxHostSetup::Nic(int slot) const {
  if (!network_ || slot < 0) return std::nullopt;
  return network_->NicFor(slot);
}

absl::StatusOr<HostCgroup> LinuxHostSetup::CreateCgroup(const Vm& vm) {
  const VmSpec& s = vm.spec;
  CgroupLimits limits{static_cast<int64_t>(s.memory_mib + kVmmOverheadMib) << 20,
                      static_cast<int64_t>(s.vcpus) * 100000, 100000, 1024};
  ASSIGN_OR_RETURN(VmCgroup cg, VmCgroup::Create(options_.cgroup_root, layout_,
                                                 options_.cgroup_parent, s.name, limits));
  if (options_.on_cgroup) {
    if (absl::Status watched = options_.on_cgroup(s.name, cg.v2_path(), cg.id()); !watched.ok()) {
      cg.Destroy().IgnoreError();
      return watched;
    }
  }
  return HostCgroup{cg.v2_path(), cg.id(), cg.ProcsFiles()};
}

void LinuxHostSetup::DestroyCgroup(const std::string& vm) {
  auto cg = VmCgroup::Open(options_.cgroup_root, layout_, options_.cgroup_parent, vm);
  if (cg.ok()) cg->Destroy().IgnoreError();
}

absl::StatusOr<HostNic> LinuxHostSetup::AttachNic(int slot, uint32_t owner) {
  if (!network_) {
    return absl::FailedPreconditionError("BRIDGE networking asked for and this launcher has none");
  }
  ASSIGN_OR_RETURN(VmNic nic, network_->Attach(slot, owner));
  return HostNic{nic.tap, nic.mac, network_->config().netns, network_->GuestCmdline(nic)};
}

void LinuxHostSetup::DetachNic(int slot) {
  if (network_ && slot >= 0) network_->Detach(network_->NicFor(slot).tap);
}

absl::Status LinuxHostSetup::PrepareFiles(const VmmRequest& r) {
  RETURN_IF_ERROR(MakeDirs(r.run_dir, 0700));
  const uint32_t uid = r.jail_uid;
  if (uid == 0) return absl::OkStatus();
  RETURN_IF_ERROR(HandTo(r.run_dir, uid));
  if (std::string console = r.run_dir + "/console.log"; PathExists(console)) {
    RETURN_IF_ERROR(HandTo(console, uid));
  }
  for (const std::string* disk : {&r.runtime_disk, &r.workspace_disk}) {
    if (!disk->empty()) RETURN_IF_ERROR(HandTo(*disk, uid));
  }
  if (r.manifest) {
    for (const image::ManifestFile* a : {&r.manifest->vmlinux, &r.manifest->initramfs,
                                         &r.manifest->rootfs, &r.manifest->verity_hash}) {
      RETURN_IF_ERROR(CheckReadableBy(r.image_dir + "/" + a->path, uid));
    }
  }
  return MakeDirs(r.vm_dir + "/jail", 0700);
}

void LinuxHostSetup::ReleaseFiles(const std::string& vm_dir, const std::string& run_dir) {
  ::unlink((run_dir + "/agent.sock").c_str());
  ::unlink((run_dir + "/qmp.sock").c_str());
  ::unlink((vm_dir + "/vmm.pid").c_str());
  ::rmdir((vm_dir + "/jail").c_str());  // only ever a mount point, in the VMM's own namespace
}

void LinuxHostSetup::RemoveOrphans(const std::set<std::string>& vms, const std::set<int>& slots) {
  std::string parent = CgroupPath("");
  parent.pop_back();
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(parent, ec)) {
    std::string name = e.path().filename().string();
    if (!e.is_directory() || vms.count(name)) continue;
    log::Warn("removing orphaned cgroup", {{"cgroup", e.path().string()}});
    DestroyCgroup(name);
  }
  if (!network_) return;
  std::set<std::string> owned;
  for (int slot : slots) owned.insert(network_->NicFor(slot).tap);
  for (const std::string& tap : network_->Taps()) {
    if (owned.count(tap)) continue;
    log::Warn("removing orphaned tap", {{"tap", tap}});
    network_->Detach(tap);
  }
}

}  // namespace clawos::launcher
