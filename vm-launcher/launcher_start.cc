// Launcher: starting and stopping a VM. A start is a sequence of steps —
// the image checked, the VM moved to BOOTING, the host's part (cgroup, NIC,
// files), the VMM, the agent's handshake — each done one pushing its undo,
// so that a start that fails anywhere leaves nothing behind.
#include <unistd.h>

#include <fstream>
#include <set>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/log.h"
#include "common/status.h"
#include "common/utf8.h"
#include "image/signing.h"
#include "vm-launcher/launcher.h"
#include "vm-launcher/rollback.h"

namespace clawos::launcher {
namespace {

int64_t MemAvailableMib(const std::string& meminfo) {
  std::ifstream f(meminfo);
  std::string key, unit;
  int64_t kb;
  while (f >> key >> kb >> unit) {
    if (key == "MemAvailable:") return kb / 1024;
  }
  return -1;
}

}  // namespace

absl::Status Launcher::CheckMemory(const VmSpec& spec) const {
  if (config_.min_available_mib <= 0) return absl::OkStatus();
  int64_t avail = MemAvailableMib(config_.meminfo_path);
  if (avail < 0) return absl::OkStatus();  // no figure: no gate
  int64_t need = spec.memory_mib + kVmmOverheadMib;
  if (avail - need < config_.min_available_mib) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "not enough memory to start ", spec.name, ": ", avail, " MiB available, the VM needs ",
        need, " MiB and the launcher keeps ", config_.min_available_mib, " MiB free"));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> Launcher::AllocateJailUid() const {
  std::set<uint32_t> used;
  for (const Vm& vm : store_->List()) used.insert(vm.jail_uid);
  // The range's last uid is the template builds' (when there are two or more).
  const uint64_t last = config_.jail_uid_last - (config_.jail_uid_first < config_.jail_uid_last);
  for (uint64_t uid = config_.jail_uid_first; uid <= last; ++uid) {
    if (!used.count(static_cast<uint32_t>(uid))) return static_cast<uint32_t>(uid);
  }
  return absl::ResourceExhaustedError(absl::StrCat("every uid of the jail range ",
                                                   config_.jail_uid_first, "-",
                                                   config_.jail_uid_last, " is held by a VM"));
}

absl::StatusOr<int> Launcher::AllocateNetSlot() const {
  std::set<int> used;
  for (const Vm& other : store_->List()) {
    if (other.net_slot >= 0) used.insert(other.net_slot);
  }
  for (int i = 0; i < kMaxBridgeSlots; ++i) {
    if (!used.count(i)) return i;
  }
  return absl::ResourceExhaustedError("no free address on the bridge");
}

absl::StatusOr<image::Manifest> Launcher::CheckBootImage(const Vm& vm, ImageRecord* img) const {
  ASSIGN_OR_RETURN(*img, FindImage(vm.spec.image));
  // Before every start: signature and artefacts against the trusted key
  // (again only when a file of the image changed since it last passed).
  auto manifest = verified_images_.Verify(img->dir, config_.signing_pubkey);
  if (!manifest.ok()) {
    return absl::Status(manifest.status().code(), absl::StrCat("refusing to boot image ", img->name,
                                                               ": ", manifest.status().message()));
  }
  if (manifest->verity.root_hash != img->root_hash) {
    return absl::FailedPreconditionError(
        absl::StrCat("refusing to boot image ", img->name,
                     ": its root hash changed since import (re-import it)"));
  }
  return manifest;
}

absl::StatusOr<Vm> Launcher::BeginStart(const std::string& name,
                                        std::shared_ptr<std::atomic<bool>> abort) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Vm vm, store_->Get(name));  // the state may have moved meanwhile
  RETURN_IF_ERROR(CheckAllowed(vm, VmOp::kStart));
  RETURN_IF_ERROR(CheckMemory(vm.spec));
  if (config_.jail && vm.jail_uid == 0) {  // made with the jail off
    ASSIGN_OR_RETURN(vm.jail_uid, AllocateJailUid());
  }
  int slot = -1;
  if (vm.spec.network == "bridge") {
    if (!host_->has_bridge()) {
      return absl::FailedPreconditionError(
          absl::StrCat("VM ", name, " wants BRIDGE networking and this launcher has none"));
    }
    ASSIGN_OR_RETURN(slot, AllocateNetSlot());
  }
  RETURN_IF_ERROR(Move(vm, VmTransition::Boot(clock_.Now(), slot)));
  booting_[name] = std::move(abort);
  return vm;
}

VmmRequest Launcher::Request(const Vm& vm, const ImageRecord& img, const image::Manifest& m,
                             const HostCgroup& cgroup) const {
  const std::string& name = vm.spec.name;
  VmmRequest r;
  r.vm = name;
  r.manifest = &m;
  r.image_dir = img.dir;
  r.vm_dir = VmDir(name);
  r.run_dir = RunDir(name);
  r.runtime_disk = r.vm_dir + "/runtime.img";
  r.workspace_disk = r.vm_dir + "/workspace.img";
  r.vcpus = vm.spec.vcpus;
  r.memory_mib = vm.spec.memory_mib;
  r.jail_uid = config_.jail ? vm.jail_uid : 0;
  r.cgroup_procs = cgroup.procs;
  return r;
}

absl::Status Launcher::EndFailedStart(Vm& vm, const std::atomic<bool>& abort, bool abandoned,
                                      const StartOptions& options, FailureKind kind,
                                      const absl::Status& why) {
  const std::string& name = vm.spec.name;
  std::lock_guard lock(mu_);
  booting_.erase(name);
  if (abort) {  // a stop arrived during the boot
    Move(vm, VmTransition::Stopped(clock_.Now(), "the start was aborted by a stop")).IgnoreError();
    return absl::AbortedError(absl::StrCat("start of ", name, " aborted by a stop"));
  }
  if (abandoned) {  // the caller went away: the VM is not broken, just not started
    bool late = absl::Now() >= options.deadline;
    std::string reason = late ? "the caller's deadline passed" : "the caller cancelled";
    Move(vm, VmTransition::Stopped(clock_.Now(), "the start was abandoned: " + reason))
        .IgnoreError();
    std::string msg = absl::StrCat("start of ", name, " abandoned: ", reason);
    return late ? absl::DeadlineExceededError(msg) : absl::CancelledError(msg);
  }
  return Fail(
      vm, kind,
      absl::Status(why.code(), absl::StrCat("start of ", name, " failed: ", why.message())));
}

absl::Status Launcher::BootFailure(const std::string& name, Vmm& vmm, const absl::Status& why) {
  const bool exited = !vmm.Running();
  vmm.Stop(absl::ZeroDuration()).IgnoreError();
  // A VMM that exited by itself said why on its stderr.
  std::string said = exited ? vmm.ExitMessage() : "";
  return absl::Status(why.code(), absl::StrCat(why.message(), said.empty() ? "" : "; QEMU: ", said,
                                               "; console:\n", PumpedConsoleTail(name, vmm)));
}

absl::StatusOr<std::unique_ptr<Vmm>> Launcher::Launch(Vm& vm, VmmRequest request,
                                                      std::optional<Restore> restore) {
  vm.template_id.clear();
  if (restore) {
    absl::Cleanup close_state = [&] { ::close(restore->state_fd); };
    request.ram_fd = restore->ram->fd();
    request.state_fd = restore->state_fd;
    auto restored = backend_->Launch(request);
    if (restored.ok()) {
      vm.template_id = restore->record.id;
      return restored;
    }
    // This start boots. A template whose state did not load (not a busy
    // host: a timeout, no descriptors) is not trusted again.
    log::Warn("restore failed: booting", {{"vm", vm.spec.name},
                                          {"template", restore->record.id},
                                          {"error", restored.status().ToString()}});
    absl::StatusCode code = restored.status().code();
    if (code == absl::StatusCode::kInternal || code == absl::StatusCode::kDataLoss ||
        code == absl::StatusCode::kFailedPrecondition) {
      templates_->Delete(restore->record.id, restore->record.ram_sha256).IgnoreError();
    }
    request.ram_fd = request.state_fd = -1;
  }
  return backend_->Launch(request);
}

absl::StatusOr<Vm> Launcher::StartVm(const std::string& name, const StartOptions& options) {
  ASSIGN_OR_RETURN(Vm vm, store_->Get(name));
  RETURN_IF_ERROR(CheckAllowed(vm, VmOp::kStart));
  ImageRecord img;
  if (options.progress) options.progress(StartPhase::kVerifyingImage, "");
  ASSIGN_OR_RETURN(const image::Manifest manifest, CheckBootImage(vm, &img));
  auto abort = std::make_shared<std::atomic<bool>>(false);
  ASSIGN_OR_RETURN(vm, BeginStart(name, abort));
  // From here on the slow part runs unlocked (other VMs start, stop and list
  // meanwhile), and every step done pushes its undo.
  Rollback undo;
  bool abandoned = false;  // the caller's deadline passed or it cancelled during the boot
  auto failed = [&](FailureKind kind, const absl::Status& why) {
    undo.Run();
    return EndFailedStart(vm, *abort, abandoned, options, kind, why);
  };
  undo.Push([this, name] { host_->DestroyCgroup(name); });  // a half-made one too
  auto cgroup = host_->CreateCgroup(vm);
  if (!cgroup.ok()) return failed(FailureKind::kHostSetup, cgroup.status());
  VmmRequest request = Request(vm, img, manifest, *cgroup);
  if (vm.net_slot >= 0) {
    auto nic = host_->AttachNic(vm.net_slot, request.jail_uid);
    if (!nic.ok()) return failed(FailureKind::kHostSetup, nic.status());
    undo.Push([this, slot = vm.net_slot] { host_->DetachNic(slot); });
    request.tap = nic->tap;
    request.mac = nic->mac;
    request.netns = nic->netns;
    request.guest_cmdline = nic->guest_cmdline;
  }
  undo.Push([this, name] { host_->ReleaseFiles(VmDir(name), RunDir(name)); });
  if (auto ready = host_->PrepareFiles(request); !ready.ok()) {
    return failed(FailureKind::kHostSetup, ready);
  }
  if (auto log = Logs(name); log.ok()) (*log)->ResetConsole();
  std::optional<Restore> restore = FindRestore(vm, img, manifest, options, *abort);
  if (options.progress) {
    options.progress(StartPhase::kBooting,
                     restore ? "restoring templates/" + restore->record.id : "booting");
  }
  auto launched = Launch(vm, request, std::move(restore));
  if (!launched.ok()) return failed(FailureKind::kVmmExited, launched.status());
  std::shared_ptr<Vmm> vmm = std::move(*launched);
  undo.Push([vmm] {
    if (vmm->Running()) vmm->Stop(absl::ZeroDuration()).IgnoreError();
  });
  {
    std::lock_guard lock(mu_);
    auto recorded =
        Apply(vm, VmTransition::Launched(clock_.Now(), vmm->pid(), vmm->start_time(), cgroup->id));
    if (recorded.ok()) vm = *recorded;
    store_->Update(vm).IgnoreError();  // same state: no event
  }
  if (options.progress) options.progress(StartPhase::kWaitingForAgent, "");
  auto agent =
      ConnectAgent(name, vmm, std::min(absl::Now() + config_.ready_timeout, options.deadline),
                   abort, options.cancelled);
  // A caller that went away meanwhile gets no VM it cannot know runs (a
  // restore can be quicker than the checks during the wait).
  const bool gone = absl::Now() >= options.deadline || (options.cancelled && options.cancelled());
  std::unique_lock final_lock(mu_);  // a stop arriving now is seen here or sees RUNNING
  if (!agent.ok() || *abort || gone) {
    final_lock.unlock();
    absl::Status why = agent.ok() ? absl::AbortedError("aborted") : agent.status();
    abandoned = gone && !*abort;
    FailureKind kind = why.code() == absl::StatusCode::kDeadlineExceeded ? FailureKind::kBootTimeout
                                                                         : FailureKind::kVmmExited;
    return failed(kind, BootFailure(name, *vmm, why));
  }
  booting_.erase(name);
  if (absl::Status ready =
          Move(vm, VmTransition::Ready(clock_.Now(), (*agent)->hello().agent_version()));
      !ready.ok()) {
    final_lock.unlock();
    return ready;  // the undos run: nothing is left running that no record holds
  }
  undo.Commit();
  Runtime rt;
  rt.vmm = vmm;
  rt.agent = *agent;
  rt.last_activity = rt.last_ping = clock_.Now();
  running_[name] = std::move(rt);
  log::Info("vm running", {{"vm", name},
                           {"pid", vm.pid},
                           {"cgroup_id", vm.cgroup_id},
                           {"boot_ms", absl::ToInt64Milliseconds(vm.ready_time - vm.start_time)}});
  return store_->Get(name);
}

absl::StatusOr<Vm> Launcher::StopVm(const std::string& name, absl::Duration grace, bool force) {
  Runtime rt;
  Vm vm;
  {
    std::unique_lock lock(mu_);
    ASSIGN_OR_RETURN(vm, store_->Get(name));
    if (vm.state == VmState::kStopped) return vm;  // not an error
    if (vm.state == VmState::kBooting) {
      if (auto it = booting_.find(name); it != booting_.end()) *it->second = true;
      lock.unlock();
      // The start notices the abort within a moment (it polls the VMM).
      for (int i = 0; i < 600; ++i) {
        auto now = store_->Get(name);
        if (!now.ok() || now->state != VmState::kBooting) return now;
        absl::SleepFor(absl::Milliseconds(100));
      }
      return absl::DeadlineExceededError(absl::StrCat("VM ", name, " is still starting"));
    }
    RETURN_IF_ERROR(CheckAllowed(vm, VmOp::kStop));
    RETURN_IF_ERROR(Move(vm, VmTransition::Stop(clock_.Now())));
    if (auto it = running_.find(name); it != running_.end()) {
      rt = std::move(it->second);
      running_.erase(it);
    }
  }
  absl::Status stopped = absl::OkStatus();
  if (rt.vmm) {
    bool asked = !force && rt.agent && rt.agent->connected() && rt.agent->Shutdown(grace).ok();
    // The channel stays open until QEMU is gone: the guest's last writes must not block.
    stopped = rt.vmm->Stop(asked ? grace + absl::Seconds(5) : absl::ZeroDuration());
    rt.agent.reset();
    if (auto log = Logs(name); log.ok()) (*log)->PumpConsole(rt.vmm->ConsoleLog());
  }
  CleanUp(name, vm.net_slot);
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(Move(vm, stopped.ok() ? VmTransition::Stopped(clock_.Now())
                                        : VmTransition::Fail(clock_.Now(), FailureKind::kVmmExited,
                                                             std::string(stopped.message()))));
  log::Info("vm stopped", {{"vm", name}, {"force", force}});
  return store_->Get(name);
}

}  // namespace clawos::launcher
