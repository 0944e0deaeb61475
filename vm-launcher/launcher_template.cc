// Launcher: templates. A template is made by booting a guest of the VM's
// image and shape with its RAM in a shared memfd, quiescing it (the agent
// syncs and drops its caches; it was never welcomed, so it holds no VM's
// identity, disks or environment), and saving its device state. A VM is then
// restored from it: QEMU maps the sealed RAM private copy-on-write and loads
// the state, and the agent, welcomed as this VM, reseeds its RNG, takes its
// hostname and machine id, sets the clock and mounts the VM's own disks.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/log.h"
#include "common/status.h"
#include "vm-launcher/launcher.h"
#include "vm-launcher/rollback.h"

namespace clawos::launcher {
namespace {

constexpr absl::Duration kRetryFailedTemplate = absl::Minutes(10);

// A placeholder disk of the VM's size: the template's guest sees a disk of
// the size its clones' will be, and never reads it (it mounts nothing).
absl::Status SparseFile(const std::string& path, int64_t mib) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("creating ", path));
  int rc = ::ftruncate(fd, mib << 20);
  int e = errno;
  ::close(fd);
  return rc == 0 ? absl::OkStatus() : ErrnoStatus(e, absl::StrCat("sizing ", path));
}

}  // namespace

TemplateKey Launcher::KeyFor(const VmSpec& shape, const ImageRecord& image,
                             const image::Manifest& manifest) const {
  TemplateKey k;
  k.image = image.name;
  k.root_hash = image.root_hash;
  k.cmdline = manifest.cmdline;
  k.kernel = manifest.vmlinux.sha256 + ":" + manifest.initramfs.sha256;
  k.vmm = backend_->Identity();
  k.vcpus = shape.vcpus;
  k.memory_mib = shape.memory_mib;
  k.runtime_disk_mib = shape.runtime_disk_mib;
  k.workspace_disk_mib = shape.workspace_disk_mib;
  return k;
}

std::vector<TemplateRecord> Launcher::ListTemplates() const { return templates_->List(); }

absl::Status Launcher::DeleteTemplate(const std::string& id) {
  RETURN_IF_ERROR(templates_->Delete(id));
  log::Info("template deleted", {{"template", id}});
  return absl::OkStatus();
}

absl::StatusOr<TemplateRecord> Launcher::MakeTemplate(const std::string& image_name,
                                                      const VmSpec& shape) {
  if (backend_->Identity().empty()) {
    return absl::FailedPreconditionError("this launcher's VMM makes no templates");
  }
  RETURN_IF_ERROR(TemplateUidFree());
  VmSpec s = shape;
  s.name = "template";
  s.image = image_name;
  RETURN_IF_ERROR(ValidateVmSpec(s, config_.limits));
  ImageRecord img;
  Vm probe;
  probe.spec = s;
  ASSIGN_OR_RETURN(const image::Manifest manifest, CheckBootImage(probe, &img));
  std::lock_guard build(template_build_mu_);
  auto made = BuildTemplate(KeyFor(s, img, manifest), img, manifest, {});
  if (made.ok()) template_failed_.erase(made->id);
  return made;
}

absl::Status Launcher::TemplateUidFree() const {
  if (!config_.jail) return absl::OkStatus();
  if (config_.jail_uid_first >= config_.jail_uid_last) {
    return absl::FailedPreconditionError(
        "templates need two uids or more in --jail-uid-range (the last is the builds')");
  }
  for (const Vm& vm : store_->List()) {
    if (vm.jail_uid == config_.jail_uid_last) {
      return absl::FailedPreconditionError(absl::StrCat(
          "VM ", vm.spec.name, " holds uid ", vm.jail_uid,
          ", the template builds' (the last of --jail-uid-range): delete it or widen the range"));
    }
  }
  return absl::OkStatus();
}

std::optional<Launcher::Restore> Launcher::FindRestore(const Vm& vm, const ImageRecord& img,
                                                       const image::Manifest& manifest,
                                                       const StartOptions& options,
                                                       const std::atomic<bool>& abort) {
  if (!config_.templates || options.cold || vm.spec.network != "none" ||
      backend_->Identity().empty() || !TemplateUidFree().ok()) {
    return std::nullopt;
  }
  const TemplateKey key = KeyFor(vm.spec, img, manifest);
  const std::string id = key.Id();
  auto found = templates_->Find(id);
  if (!found.ok()) {
    std::lock_guard build(template_build_mu_);  // concurrent first starts wait for one build
    found = templates_->Find(id);
    if (!found.ok()) {
      if (auto it = template_failed_.find(id);
          it != template_failed_.end() && absl::Now() - it->second < kRetryFailedTemplate) {
        return std::nullopt;
      }
      BuildCaller caller{options.deadline, [&abort, cancelled = options.cancelled] {
                           return abort || (cancelled && cancelled());
                         }};
      found = BuildTemplate(key, img, manifest, caller);
      if (!found.ok()) template_failed_[id] = absl::Now();
    }
  }
  absl::Status why = found.status();
  if (found.ok()) {
    auto ram = templates_->Ram(*found);
    auto state = ram.ok() ? templates_->OpenState(*found) : absl::StatusOr<int>(ram.status());
    if (state.ok()) return Restore{*found, *ram, *state};
    why = state.status();
    if (why.code() == absl::StatusCode::kDataLoss) {
      templates_->Delete(id, found->ram_sha256).IgnoreError();
    }
  }
  log::Warn("template not used: booting", {{"vm", vm.spec.name}, {"error", why.ToString()}});
  return std::nullopt;
}

absl::Status Launcher::BootTemplate(const TemplateKey& key, const ImageRecord& img,
                                    const image::Manifest& manifest, const std::string& dir,
                                    int ram_fd, const BuildCaller& caller) {
  Rollback undo;  // whatever happens, the guest and its host part go
  Vm vm;          // the template's guest, as the host's part sees a VM
  vm.spec.name = "_template-" + key.Id();
  vm.spec.image = img.name;
  vm.spec.vcpus = key.vcpus;
  vm.spec.memory_mib = key.memory_mib;
  undo.Push([this, name = vm.spec.name] {
    host_->DestroyCgroup(name);
    if (config_.on_cgroup_gone) config_.on_cgroup_gone(name);
  });
  ASSIGN_OR_RETURN(HostCgroup cgroup, host_->CreateCgroup(vm));
  VmmRequest r;
  r.vm = vm.spec.name;
  r.manifest = &manifest;
  r.image_dir = img.dir;
  r.vm_dir = dir;
  r.run_dir = dir + "/run";
  r.runtime_disk = dir + "/runtime.img";
  r.workspace_disk = dir + "/workspace.img";
  r.vcpus = key.vcpus;
  r.memory_mib = key.memory_mib;
  r.jail_uid = config_.jail ? config_.jail_uid_last : 0;
  r.cgroup_procs = cgroup.procs;
  r.ram_fd = ram_fd;
  r.ram_shared = true;
  RETURN_IF_ERROR(SparseFile(r.runtime_disk, key.runtime_disk_mib));
  RETURN_IF_ERROR(SparseFile(r.workspace_disk, key.workspace_disk_mib));
  undo.Push(
      [this, vm_dir = r.vm_dir, run_dir = r.run_dir] { host_->ReleaseFiles(vm_dir, run_dir); });
  RETURN_IF_ERROR(host_->PrepareFiles(r));
  ASSIGN_OR_RETURN(std::shared_ptr<Vmm> vmm, backend_->Launch(r));
  undo.Push([vmm] { vmm->Stop(absl::ZeroDuration()).IgnoreError(); });
  absl::Status done = AgentClient::Quiesce(
      vmm->AgentSocket(), std::min(absl::Now() + config_.ready_timeout, caller.deadline),
      [vmm, gone = caller.gone] { return vmm->Running() && !(gone && gone()); }, nullptr);
  if (done.ok()) {
    const std::string state = dir + "/state";
    int fd = ::open(state.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    done = fd < 0 ? ErrnoStatus(errno, "creating the device state file") : vmm->SaveState(fd);
    if (fd >= 0) ::close(fd);
  }
  if (done.ok()) return done;
  std::string said = vmm->Running() ? "" : vmm->ExitMessage();
  return absl::Status(done.code(),
                      absl::StrCat(done.message(), said.empty() ? "" : "; VMM: ", said));
}

absl::StatusOr<TemplateRecord> Launcher::BuildTemplate(const TemplateKey& key,
                                                       const ImageRecord& img,
                                                       const image::Manifest& manifest,
                                                       const BuildCaller& caller) {
  const absl::Time began = absl::Now();
  VmSpec shape;  // the template's guest takes memory as a VM of its shape does
  shape.name = "_template-" + key.Id();
  shape.memory_mib = key.memory_mib;
  RETURN_IF_ERROR(CheckMemory(shape));
  TemplateRecord record;
  record.id = key.Id();
  record.key = key;
  ASSIGN_OR_RETURN(const std::string dir, templates_->BeginBuild(record.id));
  auto ram = TemplateRam::Create("clawos-template-" + record.id, int64_t{key.memory_mib} << 20);
  absl::Status built =
      ram.ok() ? BootTemplate(key, img, manifest, dir, (*ram)->fd(), caller) : ram.status();
  if (built.ok()) {
    for (const char* scratch :
         {"/runtime.img", "/workspace.img", "/qemu.log", "/run/console.log"}) {
      ::unlink((dir + scratch).c_str());
    }
    ::rmdir((dir + "/run").c_str());
    record.create_time = absl::Now();
    record.build_time = absl::Now() - began;
    built = templates_->Commit(record, std::move(*ram), dir + "/state");
  }
  if (!built.ok()) {
    templates_->AbandonBuild(record.id);
    log::Warn("template not made", {{"template", record.id}, {"error", built.ToString()}});
    return absl::Status(built.code(),
                        absl::StrCat("making template ", record.id, ": ", built.message()));
  }
  log::Info("template made", {{"template", record.id},
                              {"image", key.image},
                              {"build_ms", absl::ToInt64Milliseconds(record.build_time)},
                              {"ram_data_mib", record.ram_data_bytes >> 20}});
  return record;
}

}  // namespace clawos::launcher
