#include "vm-launcher/launcher.h"

#include <signal.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/log.h"
#include "common/status.h"
#include "image/signing.h"
#include "vm-launcher/guest_config.h"

namespace clawos::launcher {
namespace {

const std::vector<sqlite::Migration>& ImageMigrations() {
  static const std::vector<sqlite::Migration> m = {{1, R"sql(
CREATE TABLE images(
  name        TEXT PRIMARY KEY,
  dir         TEXT NOT NULL,
  root_hash   TEXT NOT NULL,
  import_time INTEGER NOT NULL
);
)sql"}};
  return m;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Launcher>> Launcher::Open(LauncherConfig config,
                                                         const Clock& clock) {
  std::unique_ptr<Launcher> l(new Launcher(std::move(config), clock));
  RETURN_IF_ERROR(EnsurePrivateDir(l->config_.state_dir));
  RETURN_IF_ERROR(EnsurePrivateDir(l->config_.state_dir + "/vms"));
  ASSIGN_OR_RETURN(l->layout_, DetectCgroupLayout(l->config_.cgroup_root));
  ASSIGN_OR_RETURN(l->images_db_,
                   sqlite::Db::Open(l->config_.state_dir + "/images.db", ImageMigrations()));
  ASSIGN_OR_RETURN(l->store_, VmStore::Open(l->config_.state_dir + "/launcher.db", clock));
  RETURN_IF_ERROR(l->Reconcile());
  return l;
}

absl::Status Launcher::Reconcile() {
  std::lock_guard lock(mu_);
  for (Vm vm : store_->List()) {
    if (running_.count(vm.spec.name)) continue;
    bool had_vmm = vm.state == VmState::kRunning || vm.state == VmState::kBooting ||
                   vm.state == VmState::kStopping;
    if (!had_vmm) {
      if (vm.state == VmState::kCreating) {  // a create that never finished
        std::error_code ec;
        std::filesystem::remove_all(VmDir(vm.spec.name), ec);
        store_->Delete(vm.spec.name).IgnoreError();
      }
      continue;
    }
    std::string dir = VmDir(vm.spec.name);
    if (vm.state == VmState::kRunning &&
        IsSameProcess(static_cast<pid_t>(vm.pid), vm.pid_start_time)) {
      QemuConfig qc;
      qc.console_log = dir + "/console.log";
      qc.agent_socket = dir + "/agent.sock";
      qc.qmp_socket = dir + "/qmp.sock";
      auto vmm = VmmProcess::Adopt(static_cast<pid_t>(vm.pid), vm.pid_start_time, qc);
      if (vmm.ok()) {
        running_[vm.spec.name] = std::move(*vmm);
        log::Info("vm re-adopted", {{"vm", vm.spec.name}, {"pid", vm.pid}});
        continue;
      }
    }
    // Gone (or caught mid-boot/mid-stop): make sure nothing of it is left.
    if (IsSameProcess(static_cast<pid_t>(vm.pid), vm.pid_start_time)) {
      ::kill(static_cast<pid_t>(vm.pid), SIGKILL);
    }
    if (auto cg = VmCgroup::Open(config_.cgroup_root, layout_, config_.cgroup_parent, vm.spec.name);
        cg.ok()) {
      cg->Destroy().IgnoreError();
    }
    ::unlink((dir + "/agent.sock").c_str());
    ::unlink((dir + "/qmp.sock").c_str());
    std::string was = VmStateName(vm.state);
    Fail(vm,
         absl::UnavailableError(absl::StrCat(
             "the VMM (pid ", vm.pid, ") exited while the launcher was down (VM was ", was, ")")))
        .IgnoreError();
  }
  return absl::OkStatus();
}

Launcher::~Launcher() = default;

std::string Launcher::VmDir(const std::string& name) const {
  return absl::StrCat(config_.state_dir, "/vms/", name);
}

absl::StatusOr<ImageRecord> Launcher::ImportImage(const std::string& name, const std::string& dir) {
  RETURN_IF_ERROR(ValidateVmName(name));  // same grammar
  ASSIGN_OR_RETURN(image::Manifest m, image::VerifyImage(dir, config_.signing_pubkey, {true, 0}));
  std::error_code ec;
  std::string abs = std::filesystem::canonical(dir, ec).string();
  if (ec) return absl::NotFoundError(absl::StrCat(dir, ": ", ec.message()));
  std::lock_guard lock(images_db_->mutex());
  ASSIGN_OR_RETURN(auto st,
                   images_db_->Prepare(
                       "INSERT INTO images(name, dir, root_hash, import_time) VALUES(?, ?, ?, ?)"));
  int64_t now = absl::ToUnixSeconds(clock_.Now());
  st.Bind(1, name).Bind(2, abs).Bind(3, m.verity.root_hash).Bind(4, now);
  auto s = st.Run();
  if (s.code() == absl::StatusCode::kAlreadyExists) {
    return absl::AlreadyExistsError(absl::StrCat("image ", name, " already exists"));
  }
  RETURN_IF_ERROR(s);
  log::Info("image imported", {{"image", name}, {"root_hash", m.verity.root_hash}});
  return ImageRecord{name, abs, m.verity.root_hash, absl::FromUnixSeconds(now)};
}

std::vector<ImageRecord> Launcher::ListImages() const {
  std::lock_guard lock(images_db_->mutex());
  std::vector<ImageRecord> out;
  auto st =
      images_db_->Prepare("SELECT name, dir, root_hash, import_time FROM images ORDER BY name");
  if (!st.ok()) return out;
  while (st->Step().value_or(false)) {
    out.push_back({st->Text(0), st->Text(1), st->Text(2), absl::FromUnixSeconds(st->Int(3))});
  }
  return out;
}

absl::StatusOr<ImageRecord> Launcher::FindImage(const std::string& name) const {
  for (auto& i : ListImages()) {
    if (i.name == name) return i;
  }
  return absl::NotFoundError(absl::StrCat("no image named ", name, " (import it first)"));
}

absl::StatusOr<Vm> Launcher::CreateVm(const VmSpec& spec) {
  RETURN_IF_ERROR(ValidateVmSpec(spec, config_.limits));
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(FindImage(spec.image).status());
  if (static_cast<int>(store_->List().size()) >= config_.max_vms) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the launcher holds its maximum of ", config_.max_vms, " VMs"));
  }
  Vm vm;
  vm.spec = spec;
  vm.state = VmState::kCreating;
  RETURN_IF_ERROR(store_->Insert(vm));
  std::string dir = VmDir(spec.name);
  absl::Status made = EnsurePrivateDir(dir);
  if (made.ok()) made = CreateExt4Disk(dir + "/runtime.img", spec.runtime_disk_mib);
  if (made.ok()) made = CreateExt4Disk(dir + "/workspace.img", spec.workspace_disk_mib);
  if (!made.ok()) {  // undo all of it
    std::filesystem::remove_all(dir);
    store_->Delete(spec.name).IgnoreError();
    return made;
  }
  vm.state = VmState::kStopped;
  RETURN_IF_ERROR(store_->Update(vm));
  log::Info("vm created", {{"vm", spec.name}, {"image", spec.image}});
  return store_->Get(spec.name);
}

absl::Status Launcher::Fail(Vm& vm, const absl::Status& why) {
  vm.state = VmState::kFailed;
  vm.reason = std::string(why.message());
  vm.pid = 0;
  vm.pid_start_time = 0;
  store_->Update(vm).IgnoreError();
  log::Warn("vm failed", {{"vm", vm.spec.name}, {"reason", vm.reason.substr(0, 300)}});
  return why;
}

absl::StatusOr<Vm> Launcher::StartVm(const std::string& name) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Vm vm, store_->Get(name));
  RETURN_IF_ERROR(CheckAllowed(vm, VmOp::kStart));
  ASSIGN_OR_RETURN(ImageRecord img, FindImage(vm.spec.image));
  // Before every boot: signature and small artefacts against the trusted key.
  auto manifest = image::VerifyImage(img.dir, config_.signing_pubkey, {false, 0});
  if (!manifest.ok()) {
    return absl::Status(manifest.status().code(), absl::StrCat("refusing to boot image ", img.name,
                                                               ": ", manifest.status().message()));
  }
  if (manifest->verity.root_hash != img.root_hash) {
    return absl::FailedPreconditionError(
        absl::StrCat("refusing to boot image ", img.name,
                     ": its root hash changed since import (re-import it)"));
  }
  std::string dir = VmDir(name);
  auto cg = VmCgroup::Create(config_.cgroup_root, layout_, config_.cgroup_parent, name,
                             {static_cast<int64_t>(vm.spec.memory_mib + 128) << 20,
                              static_cast<int64_t>(vm.spec.vcpus) * 100000, 100000, 1024});
  if (!cg.ok()) return Fail(vm, cg.status());
  QemuConfig qc =
      GuestQemuConfig(*manifest, {img.dir, dir, dir + "/runtime.img", dir + "/workspace.img"},
                      vm.spec.vcpus, vm.spec.memory_mib, config_.accel);
  ::unlink(qc.console_log.c_str());
  auto vmm = VmmProcess::Launch(qc, *cg, dir + "/qemu.log");
  if (!vmm.ok()) {
    cg->Destroy().IgnoreError();
    return Fail(vm, vmm.status());
  }
  vm.state = VmState::kBooting;
  vm.pid = (*vmm)->pid();
  vm.pid_start_time = (*vmm)->start_time();
  vm.cgroup_id = cg->id();
  vm.reason.clear();
  RETURN_IF_ERROR(store_->Update(vm));
  auto ready = (*vmm)->WaitReady(config_.ready_timeout);
  if (!ready.ok()) {  // roll back: the process, its cgroup, its sockets
    (*vmm)->Stop(absl::Seconds(2)).IgnoreError();
    cg->Destroy().IgnoreError();
    ::unlink(qc.agent_socket.c_str());
    ::unlink(qc.qmp_socket.c_str());
    return Fail(
        vm, absl::Status(ready.status().code(),
                         absl::StrCat("start of ", name, " failed: ", ready.status().message())));
  }
  vm.state = VmState::kRunning;
  RETURN_IF_ERROR(store_->Update(vm));
  running_[name] = std::move(*vmm);
  log::Info("vm running", {{"vm", name}, {"pid", vm.pid}, {"cgroup_id", vm.cgroup_id}});
  return store_->Get(name);
}

absl::StatusOr<Vm> Launcher::StopVm(const std::string& name) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Vm vm, store_->Get(name));
  RETURN_IF_ERROR(CheckAllowed(vm, VmOp::kStop));
  vm.state = VmState::kStopping;
  RETURN_IF_ERROR(store_->Update(vm));
  auto it = running_.find(name);
  absl::Status stopped = absl::OkStatus();
  if (it != running_.end()) {
    stopped = it->second->Stop(config_.stop_grace);
    running_.erase(it);
  }
  if (auto cg = VmCgroup::Open(config_.cgroup_root, layout_, config_.cgroup_parent, name);
      cg.ok()) {
    cg->Destroy().IgnoreError();
  }
  std::string dir = VmDir(name);
  ::unlink((dir + "/agent.sock").c_str());
  ::unlink((dir + "/qmp.sock").c_str());
  vm.state = stopped.ok() ? VmState::kStopped : VmState::kFailed;
  vm.reason = stopped.ok() ? "" : std::string(stopped.message());
  vm.pid = 0;
  vm.pid_start_time = 0;
  RETURN_IF_ERROR(store_->Update(vm));
  log::Info("vm stopped", {{"vm", name}});
  return store_->Get(name);
}

absl::Status Launcher::DeleteVm(const std::string& name) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Vm vm, store_->Get(name));
  RETURN_IF_ERROR(CheckAllowed(vm, VmOp::kDelete));
  std::error_code ec;
  std::filesystem::remove_all(VmDir(name), ec);
  if (ec) return absl::InternalError(absl::StrCat("removing ", VmDir(name), ": ", ec.message()));
  RETURN_IF_ERROR(store_->Delete(name));
  log::Info("vm deleted", {{"vm", name}});
  return absl::OkStatus();
}

}  // namespace clawos::launcher
