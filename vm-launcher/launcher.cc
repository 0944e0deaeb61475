#include "vm-launcher/launcher.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/grpc_util.h"
#include "common/log.h"
#include "common/status.h"
#include "common/utf8.h"
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

constexpr int64_t kVmmOverheadMib = 128;  // QEMU itself, beyond guest memory

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

absl::StatusOr<std::unique_ptr<Launcher>> Launcher::Open(LauncherConfig config,
                                                         const Clock& clock) {
  std::unique_ptr<Launcher> l(new Launcher(std::move(config), clock));
  l->guest_stream_slots_ = std::make_shared<Slots>(l->config_.max_guest_streams);
  RETURN_IF_ERROR(EnsurePrivateDir(l->config_.state_dir));
  RETURN_IF_ERROR(EnsurePrivateDir(l->config_.state_dir + "/vms"));
  ASSIGN_OR_RETURN(l->layout_, DetectCgroupLayout(l->config_.cgroup_root));
  ASSIGN_OR_RETURN(l->images_db_,
                   sqlite::Db::Open(l->config_.state_dir + "/images.db", ImageMigrations()));
  ASSIGN_OR_RETURN(l->store_, VmStore::Open(l->config_.state_dir + "/launcher.db", clock));
  if (l->config_.bridge) {
    ASSIGN_OR_RETURN(l->network_, BridgeNetwork::Setup(*l->config_.bridge));
  }
  if (l->config_.jail) {
    RETURN_IF_ERROR(l->SetUpJail());
  } else {
    log::Warn("VMMs run unjailed, as root (--jail off): for debugging only", {});
  }
  RETURN_IF_ERROR(l->Reconcile());
  if (l->config_.housekeeping) {
    Launcher* self = l.get();
    l->housekeeper_ = std::thread([self] { self->HousekeepLoop(); });
  }
  return l;
}

Launcher::~Launcher() {
  quit_ = true;
  if (housekeeper_.joinable()) housekeeper_.join();
  std::lock_guard lock(self_->mu);
  self_->launcher = nullptr;
}

std::string Launcher::VmDir(const std::string& name) const {
  return absl::StrCat(config_.state_dir, "/vms/", name);
}

std::string Launcher::CgroupPath(const std::string& name) const {
  std::string v2 =
      layout_ == CgroupLayout::kHybrid ? config_.cgroup_root + "/unified" : config_.cgroup_root;
  return absl::StrCat(v2, "/", config_.cgroup_parent, "/", name);
}

absl::Status Launcher::Save(const Vm& vm, VmState previous) {
  RETURN_IF_ERROR(store_->Update(vm));
  auto stored = store_->Get(vm.spec.name);
  events_.Publish(
      {VmChange::Type::kStateChanged, stored.ok() ? *stored : vm, previous, clock_.Now()});
  return absl::OkStatus();
}

absl::Status Launcher::Move(Vm& vm, const VmTransition& t) {
  VmState previous = vm.state;
  ASSIGN_OR_RETURN(Vm next, Apply(vm, t));
  vm = std::move(next);
  return Save(vm, previous);
}

absl::Status Launcher::Fail(Vm& vm, FailureKind kind, const absl::Status& why) {
  Move(vm, VmTransition::Fail(clock_.Now(), kind, std::string(why.message()))).IgnoreError();
  log::Warn("vm failed", {{"vm", vm.spec.name}, {"reason", vm.reason.substr(0, 300)}});
  return why;
}

void Launcher::CleanUp(const std::string& name, int net_slot) {
  if (network_ && net_slot >= 0) network_->Detach(network_->NicFor(net_slot).tap);
  if (auto cg = VmCgroup::Open(config_.cgroup_root, layout_, config_.cgroup_parent, name);
      cg.ok()) {
    cg->Destroy().IgnoreError();
  }
  std::string dir = VmDir(name);
  ::unlink((RunDir(name) + "/agent.sock").c_str());
  ::unlink((RunDir(name) + "/qmp.sock").c_str());
  ::unlink((dir + "/vmm.pid").c_str());
  ::rmdir((dir + "/jail").c_str());  // only ever a mount point, in the VMM's own namespace
}

absl::StatusOr<std::shared_ptr<AgentClient>> Launcher::ConnectAgent(
    const std::string& name, std::shared_ptr<VmmProcess> vmm, absl::Time deadline,
    std::shared_ptr<std::atomic<bool>> abort, std::function<bool()> cancelled) {
  AgentClient::Options o;
  o.vm = "vms/" + name;
  o.max_guest_streams = config_.max_guest_streams_per_vm;
  o.guest_stream_slots = guest_stream_slots_;
  o.max_queued_bytes = config_.max_queued_bytes_per_vm;
  if (auto vm = store_->Get(name); vm.ok()) o.env = vm->spec.env;
  auto log = Logs(name);
  if (log.ok()) {
    std::shared_ptr<VmLog> l = *log;
    // The host's clock stamps the line: the guest's is the guest's to lie about.
    o.on_log = [l](const apb::LogLine& line) {
      l->Append(LogSource::kAgent, absl::Now(), line.level(), line.text());
    };
  }
  if (config_.on_inference) {
    o.inference_enabled = true;
    InferenceHandler h = config_.on_inference;
    // Handlers run on their own threads and may outlive this launcher: they
    // reach it only through `self_`, which the destructor empties.
    o.on_guest_stream = [self = self_, h, name](std::unique_ptr<AgentStream> s, apb::Frame first) {
      {
        std::lock_guard lock(self->mu);
        if (self->launcher) self->launcher->Touch(name);
      }
      h(name, std::move(s), std::move(first));
    };
  }
  std::string socket = vmm->config().agent_socket;
  ASSIGN_OR_RETURN(std::unique_ptr<AgentClient> c,
                   AgentClient::Connect(socket, std::move(o), deadline, [vmm, abort, cancelled] {
                     return !(abort && *abort) && !(cancelled && cancelled()) && vmm->Running();
                   }));
  return std::shared_ptr<AgentClient>(std::move(c));
}

absl::Status Launcher::Reconcile() {
  for (Vm vm : store_->List()) {
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
      qc.console_log = RunDir(vm.spec.name) + "/console.log";
      qc.agent_socket = RunDir(vm.spec.name) + "/agent.sock";
      qc.qmp_socket = RunDir(vm.spec.name) + "/qmp.sock";
      auto vmm = VmmProcess::Adopt(static_cast<pid_t>(vm.pid), vm.pid_start_time, qc);
      if (vmm.ok()) {
        Runtime rt;
        rt.vmm = std::move(*vmm);
        auto agent = ConnectAgent(vm.spec.name, rt.vmm, absl::Now() + absl::Seconds(15));
        if (agent.ok()) rt.agent = *agent;  // else: reconnected on first use
        rt.last_activity = rt.last_ping = clock_.Now();
        std::lock_guard lock(mu_);
        running_[vm.spec.name] = std::move(rt);
        log::Info("vm re-adopted",
                  {{"vm", vm.spec.name},
                   {"pid", vm.pid},
                   {"agent", agent.ok() ? "connected" : agent.status().ToString()}});
        continue;
      }
    }
    // Gone (or caught mid-boot/mid-stop): make sure nothing of it is left.
    if (IsSameProcess(static_cast<pid_t>(vm.pid), vm.pid_start_time)) {
      ::kill(static_cast<pid_t>(vm.pid), SIGKILL);
      for (int i = 0; i < 100 && IsSameProcess(static_cast<pid_t>(vm.pid), vm.pid_start_time); ++i)
        absl::SleepFor(absl::Milliseconds(20));
    }
    CleanUp(vm.spec.name, vm.net_slot);
    std::string was = VmStateName(vm.state);
    Fail(vm, FailureKind::kVmmExited,
         absl::UnavailableError(absl::StrCat(
             "the VMM (pid ", vm.pid, ") exited while the launcher was down (VM was ", was, ")")))
        .IgnoreError();
  }
  // Leftovers without a record: VM directories and cgroups of VMs that are gone.
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(config_.state_dir + "/vms", ec)) {
    std::string name = e.path().filename().string();
    if (store_->Get(name).status().code() == absl::StatusCode::kNotFound) {
      log::Warn("removing orphaned VM directory", {{"dir", e.path().string()}});
      std::filesystem::remove_all(e.path(), ec);
      CleanUp(name);
    }
  }
  // Cgroups no running VM owns (a VM deleted while its cgroup could not be removed).
  std::string cgroup_parent = CgroupPath("");
  cgroup_parent.pop_back();
  for (const auto& e : std::filesystem::directory_iterator(cgroup_parent, ec)) {
    if (!e.is_directory()) continue;
    std::string name = e.path().filename().string();
    auto vm = store_->Get(name);
    std::lock_guard lock(mu_);
    if (vm.ok() && running_.count(name)) continue;
    if (auto cg = VmCgroup::Open(config_.cgroup_root, layout_, config_.cgroup_parent, name);
        cg.ok()) {
      log::Warn("removing orphaned cgroup", {{"cgroup", e.path().string()}});
      cg->Destroy().IgnoreError();
    }
  }
  if (network_) {  // taps no running VM owns
    std::set<std::string> owned;
    for (const Vm& vm : store_->List()) {
      if (vm.state == VmState::kRunning && vm.net_slot >= 0) {
        owned.insert(network_->NicFor(vm.net_slot).tap);
      }
    }
    for (const std::string& tap : network_->Taps()) {
      if (!owned.count(tap)) {
        log::Warn("removing orphaned tap", {{"tap", tap}});
        network_->Detach(tap);
      }
    }
  }
  return absl::OkStatus();
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

absl::StatusOr<ImageRecord> Launcher::GetImage(const std::string& name) const {
  return FindImage(name);
}

absl::Status Launcher::DeleteImage(const std::string& name) {
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(FindImage(name).status());
  for (const Vm& vm : store_->List()) {
    if (vm.spec.image == name) {
      return absl::FailedPreconditionError(
          absl::StrCat("image ", name, " is used by VM ", vm.spec.name, " (delete the VM first)"));
    }
  }
  std::lock_guard db_lock(images_db_->mutex());
  ASSIGN_OR_RETURN(auto st, images_db_->Prepare("DELETE FROM images WHERE name = ?"));
  st.Bind(1, name);
  return st.Run();
}

absl::StatusOr<Vm> Launcher::CreateVm(const VmSpec& spec) {
  RETURN_IF_ERROR(ValidateVmSpec(spec, config_.limits));
  if (spec.network == "bridge" && !network_) {
    return absl::FailedPreconditionError(
        "this launcher has no bridge network: start it with --bridge to create BRIDGE VMs");
  }
  Vm vm;
  {
    std::lock_guard lock(mu_);
    RETURN_IF_ERROR(FindImage(spec.image).status());
    if (store_->Get(spec.name).ok()) {
      return absl::AlreadyExistsError(absl::StrCat("VM ", spec.name, " already exists"));
    }
    if (static_cast<int>(store_->List().size()) >= config_.max_vms) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the launcher holds its maximum of ", config_.max_vms, " VMs"));
    }
    vm.spec = spec;
    vm.state = VmState::kCreating;
    if (config_.jail) {
      ASSIGN_OR_RETURN(vm.jail_uid, AllocateJailUid());
    }
    RETURN_IF_ERROR(store_->Insert(vm));
  }
  // mkfs runs unlocked: other VMs start, stop and list meanwhile; the
  // CREATING record holds the name, the uid and the image.
  std::string dir = VmDir(spec.name);
  absl::Status made = EnsurePrivateDir(dir);
  if (made.ok()) made = CreateExt4Disk(dir + "/runtime.img", spec.runtime_disk_mib);
  if (made.ok()) made = CreateExt4Disk(dir + "/workspace.img", spec.workspace_disk_mib);
  std::lock_guard lock(mu_);
  if (!made.ok()) {  // undo all of it
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    store_->Delete(spec.name).IgnoreError();
    return made;
  }
  ASSIGN_OR_RETURN(vm, Apply(vm, VmTransition::Created(clock_.Now())));
  RETURN_IF_ERROR(store_->Update(vm));
  ASSIGN_OR_RETURN(Vm stored, store_->Get(spec.name));
  events_.Publish({VmChange::Type::kCreated, stored, VmState::kCreating, clock_.Now()});
  log::Info("vm created", {{"vm", spec.name}, {"image", spec.image}});
  return stored;
}

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

absl::StatusOr<Vm> Launcher::StartVm(const std::string& name, const StartOptions& options) {
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
  auto abort = std::make_shared<std::atomic<bool>>(false);
  {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(vm, store_->Get(name));  // the state may have moved meanwhile
    RETURN_IF_ERROR(CheckAllowed(vm, VmOp::kStart));
    RETURN_IF_ERROR(CheckMemory(vm.spec));
    int slot = -1;
    if (config_.jail && vm.jail_uid == 0) {  // made with the jail off
      ASSIGN_OR_RETURN(vm.jail_uid, AllocateJailUid());
    }
    if (vm.spec.network == "bridge") {
      if (!network_) {
        return absl::FailedPreconditionError(
            absl::StrCat("VM ", name, " wants BRIDGE networking and this launcher has none"));
      }
      std::set<int> used;
      for (const Vm& other : store_->List()) {
        if (other.net_slot >= 0) used.insert(other.net_slot);
      }
      for (int i = 0; i < kMaxBridgeSlots && slot < 0; ++i) {
        if (!used.count(i)) slot = i;
      }
      if (slot < 0) return absl::ResourceExhaustedError("no free address on the bridge");
    }
    RETURN_IF_ERROR(Move(vm, VmTransition::Boot(clock_.Now(), slot)));
    booting_[name] = abort;
  }
  // The slow part runs unlocked: other VMs start, stop and list meanwhile.
  std::string dir = VmDir(name);
  bool abandoned = false;  // the caller's deadline passed or it cancelled during the boot
  auto finish_failed = [&](FailureKind kind, absl::Status why) {
    CleanUp(name, vm.net_slot);
    std::lock_guard lock(mu_);
    booting_.erase(name);
    if (*abort) {  // a stop arrived during the boot
      Move(vm, VmTransition::Stopped(clock_.Now(), "the start was aborted by a stop"))
          .IgnoreError();
      return absl::AbortedError(absl::StrCat("start of ", name, " aborted by a stop"));
    }
    if (abandoned) {  // the caller went away: the VM is not broken, just not started
      bool late = absl::Now() >= options.deadline;
      std::string why = late ? "the caller's deadline passed" : "the caller cancelled";
      Move(vm, VmTransition::Stopped(clock_.Now(), "the start was abandoned: " + why))
          .IgnoreError();
      std::string msg = absl::StrCat("start of ", name, " abandoned: ", why);
      return late ? absl::DeadlineExceededError(msg) : absl::CancelledError(msg);
    }
    return Fail(
        vm, kind,
        absl::Status(why.code(), absl::StrCat("start of ", name, " failed: ", why.message())));
  };
  auto cg = VmCgroup::Create(config_.cgroup_root, layout_, config_.cgroup_parent, name,
                             {static_cast<int64_t>(vm.spec.memory_mib + kVmmOverheadMib) << 20,
                              static_cast<int64_t>(vm.spec.vcpus) * 100000, 100000, 1024});
  if (!cg.ok()) return finish_failed(FailureKind::kHostSetup, cg.status());
  if (config_.on_cgroup) {
    if (auto s = config_.on_cgroup(name, cg->v2_path(), cg->id()); !s.ok()) {
      cg->Destroy().IgnoreError();
      return finish_failed(FailureKind::kHostSetup, s);
    }
  }
  QemuConfig qc = GuestQemuConfig(
      *manifest, {img.dir, RunDir(name), dir + "/runtime.img", dir + "/workspace.img"},
      vm.spec.vcpus, vm.spec.memory_mib, config_.accel);
  if (vm.net_slot >= 0) {
    auto nic = network_->Attach(vm.net_slot, config_.jail ? vm.jail_uid : 0);
    if (!nic.ok()) {
      cg->Destroy().IgnoreError();
      return finish_failed(FailureKind::kHostSetup, nic.status());
    }
    qc.tap = nic->tap;
    qc.mac = nic->mac;
    qc.netns = network_->config().netns;
    qc.cmdline += " " + network_->GuestCmdline(*nic);
  }
  std::optional<JailLaunch> jail;
  if (config_.jail) {
    auto prepared = PrepareJail(vm, qc);
    if (!prepared.ok()) {
      cg->Destroy().IgnoreError();
      return finish_failed(FailureKind::kHostSetup, prepared.status());
    }
    jail = std::move(*prepared);
    qc.netns.clear();  // the jailer joins it
  } else if (auto made = MakeDirs(RunDir(name), 0700); !made.ok()) {
    cg->Destroy().IgnoreError();
    return finish_failed(FailureKind::kHostSetup, made);
  }
  ::unlink(qc.console_log.c_str());
  if (auto log = Logs(name); log.ok()) (*log)->ResetConsole();
  auto vmm = VmmProcess::Launch(qc, *cg, dir + "/qemu.log", jail ? &*jail : nullptr);
  if (!vmm.ok()) return finish_failed(FailureKind::kVmmExited, vmm.status());
  {
    std::lock_guard lock(mu_);
    auto launched = Apply(
        vm, VmTransition::Launched(clock_.Now(), (*vmm)->pid(), (*vmm)->start_time(), cg->id()));
    if (launched.ok()) vm = *launched;
    store_->Update(vm).IgnoreError();  // same state: no event
  }
  std::shared_ptr<VmmProcess> shared_vmm = std::move(*vmm);
  VmmProcess& p = *shared_vmm;
  auto agent = ConnectAgent(name, shared_vmm,
                            std::min(absl::Now() + config_.ready_timeout, options.deadline), abort,
                            options.cancelled);
  std::unique_lock final_lock(mu_);  // a stop arriving now is seen here or sees RUNNING
  if (!agent.ok() || *abort) {
    final_lock.unlock();
    absl::Status why = agent.ok() ? absl::AbortedError("aborted") : agent.status();
    abandoned = !agent.ok() &&
                (absl::Now() >= options.deadline || (options.cancelled && options.cancelled()));
    const bool exited = !p.Running();
    p.Stop(absl::ZeroDuration()).IgnoreError();
    FailureKind kind = why.code() == absl::StatusCode::kDeadlineExceeded ? FailureKind::kBootTimeout
                                                                         : FailureKind::kVmmExited;
    // A VMM that exited by itself said why on its stderr (qemu.log).
    std::string qemu_said;
    if (auto tail = ReadFileTail(dir + "/qemu.log", 400); exited && tail.ok()) {
      qemu_said =
          absl::StrCat("; QEMU: ", ToSafeText(std::string(absl::StripAsciiWhitespace(*tail)), 400));
    }
    return finish_failed(
        kind, absl::Status(why.code(), absl::StrCat(why.message(), qemu_said, "; console:\n",
                                                    PumpedConsoleTail(name, p))));
  }
  booting_.erase(name);
  RETURN_IF_ERROR(Move(vm, VmTransition::Ready(clock_.Now(), (*agent)->hello().agent_version())));
  Runtime rt;
  rt.vmm = shared_vmm;
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
    if (auto log = Logs(name); log.ok()) (*log)->PumpConsole(rt.vmm->config().console_log);
  }
  CleanUp(name, vm.net_slot);
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(Move(vm, stopped.ok() ? VmTransition::Stopped(clock_.Now())
                                        : VmTransition::Fail(clock_.Now(), FailureKind::kVmmExited,
                                                             std::string(stopped.message()))));
  log::Info("vm stopped", {{"vm", name}, {"force", force}});
  return store_->Get(name);
}

absl::Status Launcher::DeleteVm(const std::string& name, bool force) {
  if (force) {
    ASSIGN_OR_RETURN(Vm vm, store_->Get(name));
    if (vm.state == VmState::kRunning || vm.state == VmState::kBooting) {
      RETURN_IF_ERROR(StopVm(name, absl::ZeroDuration(), true).status());
    }
  }
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Vm vm, store_->Get(name));
  RETURN_IF_ERROR(CheckAllowed(vm, VmOp::kDelete));
  std::error_code ec;
  std::filesystem::remove_all(VmDir(name), ec);
  if (ec) return absl::InternalError(absl::StrCat("removing ", VmDir(name), ": ", ec.message()));
  RETURN_IF_ERROR(store_->Delete(name));
  logs_.erase(name);
  events_.Publish({VmChange::Type::kDeleted, vm, vm.state, clock_.Now()});
  log::Info("vm deleted", {{"vm", name}});
  if (config_.on_delete) config_.on_delete(name);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<AgentClient>> Launcher::Agent(const std::string& name) {
  std::unique_lock lock(mu_);
  ASSIGN_OR_RETURN(Vm vm, store_->Get(name));
  RETURN_IF_ERROR(CheckAllowed(vm, VmOp::kExec));
  auto it = running_.find(name);
  if (it == running_.end()) {
    return absl::UnavailableError(absl::StrCat("VM ", name, " has no VMM attached"));
  }
  it->second.last_activity = clock_.Now();
  if (it->second.agent && it->second.agent->connected()) return it->second.agent;
  // The channel dropped (or was never re-made after a restart): make it again.
  std::shared_ptr<VmmProcess> vmm = it->second.vmm;  // outlives a concurrent stop
  lock.unlock();
  auto agent = ConnectAgent(name, vmm, absl::Now() + absl::Seconds(10));
  if (!agent.ok()) {
    return absl::UnavailableError(
        absl::StrCat("the agent of VM ", name, " does not answer: ", agent.status().message()));
  }
  lock.lock();
  it = running_.find(name);
  if (it == running_.end()) return absl::UnavailableError(absl::StrCat("VM ", name, " stopped"));
  it->second.agent = *agent;
  it->second.ping_nonce = 0;  // a ping out was on the old channel
  return *agent;
}

void Launcher::Touch(const std::string& name) {
  std::lock_guard lock(mu_);
  if (auto it = running_.find(name); it != running_.end()) it->second.last_activity = clock_.Now();
}

std::string Launcher::PumpedConsoleTail(const std::string& name, const VmmProcess& vmm) {
  constexpr size_t kTail = 600;
  auto log = Logs(name);
  if (!log.ok()) return vmm.ConsoleTail();
  (*log)->PumpConsole(vmm.config().console_log);
  return (*log)->ConsoleTail(kTail);
}

absl::StatusOr<std::shared_ptr<VmLog>> Launcher::Logs(const std::string& name) {
  std::lock_guard lock(mu_);
  if (auto it = logs_.find(name); it != logs_.end()) return it->second;
  RETURN_IF_ERROR(store_->Get(name).status());
  ASSIGN_OR_RETURN(auto log, VmLog::Open(VmDir(name), config_.log_bounds));
  logs_[name] = log;
  return log;
}

void Launcher::Housekeep() {
  std::vector<std::string> names;
  {
    std::lock_guard lock(mu_);
    for (auto& [name, rt] : running_) names.push_back(name);
  }
  for (const std::string& name : names) HousekeepVm(name);
}

void Launcher::HousekeepVm(const std::string& name) {
  bool alive = true, idle = false;
  std::shared_ptr<VmmProcess> vmm;
  {
    std::lock_guard lock(mu_);
    auto it = running_.find(name);
    if (it == running_.end()) return;
    Runtime& rt = it->second;
    vmm = rt.vmm;
    alive = rt.vmm->Running();
    idle = config_.idle_timeout > absl::ZeroDuration() &&
           clock_.Now() - rt.last_activity >= config_.idle_timeout;
  }
  if (alive) {
    if (auto log = Logs(name); log.ok()) (*log)->PumpConsole(vmm->config().console_log);
  } else {  // the VMM died without being asked to
    std::string tail = PumpedConsoleTail(name, *vmm);
    std::unique_lock lock(mu_);
    auto it = running_.find(name);
    if (it == running_.end()) return;
    running_.erase(it);
    int slot = store_->Get(name).value_or(Vm{}).net_slot;
    lock.unlock();
    CleanUp(name, slot);
    lock.lock();
    if (auto vm = store_->Get(name); vm.ok() && vm->state == VmState::kRunning) {
      Fail(*vm, FailureKind::kVmmExited,
           absl::UnavailableError(absl::StrCat("the VMM exited without a stop being asked for; "
                                               "console:\n",
                                               tail)))
          .IgnoreError();
    }
    return;
  }
  if (idle) {
    log::Info("stopping idle vm",
              {{"vm", name}, {"idle_timeout", absl::FormatDuration(config_.idle_timeout)}});
    StopVm(name).IgnoreError();
    return;
  }
  CheckHealth(name);
}

void Launcher::CheckHealth(const std::string& name) {
  const absl::Duration wait =
      std::clamp(config_.health_interval, absl::Seconds(1), absl::Seconds(10));
  std::shared_ptr<AgentClient> agent;
  uint64_t nonce = 0;
  bool missed = false, answered = false;
  {
    std::lock_guard lock(mu_);
    auto it = running_.find(name);
    if (it == running_.end() || !it->second.agent) return;
    Runtime& rt = it->second;
    agent = rt.agent;
    const absl::Time now = clock_.Now();
    if (rt.ping_nonce != 0) {  // one is out: answered, late, or still in time
      answered = agent->TakePong(rt.ping_nonce).has_value();
      missed = !answered && now - rt.last_ping >= wait;
      if (missed) agent->ForgetPing(rt.ping_nonce);
      if (answered || missed) rt.ping_nonce = 0;
      if (answered) rt.missed_pings = 0;
      if (missed) ++rt.missed_pings;
    } else if (now - rt.last_ping >= config_.health_interval) {
      rt.last_ping = now;
      nonce = 1;  // send below, outside the lock
    }
  }
  if (nonce != 0) {
    auto sent = agent->SendPing();
    std::lock_guard lock(mu_);
    auto it = running_.find(name);
    if (it == running_.end()) return;
    if (sent.ok()) {
      it->second.ping_nonce = *sent;
    } else {
      missed = true;  // the channel is closed or the guest does not read it
      ++it->second.missed_pings;
    }
  }
  if (!missed) return;
  {
    std::lock_guard lock(mu_);
    auto it = running_.find(name);
    if (it == running_.end() || it->second.missed_pings < 3) return;
  }
  log::Warn("agent unresponsive: stopping the vm", {{"vm", name}});
  StopVm(name, absl::ZeroDuration(), true).IgnoreError();
  if (auto vm = store_->Get(name); vm.ok()) {
    std::lock_guard relock(mu_);
    Fail(*vm, FailureKind::kAgentUnresponsive,
         absl::UnavailableError("the guest agent missed three health pings"))
        .IgnoreError();
  }
}

void Launcher::HousekeepLoop() {
  while (!quit_) {
    Housekeep();
    for (int i = 0; i < 5 && !quit_; ++i) absl::SleepFor(absl::Milliseconds(100));
  }
}

}  // namespace clawos::launcher
