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
#include "vm-launcher/disk.h"
#include "vm-launcher/qemu_backend.h"

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
  ASSIGN_OR_RETURN(std::unique_ptr<VmmBackend> backend,
                   QemuBackend::Create({config.accel, config.jail, config.jailer}));
  LinuxHostOptions host;
  host.cgroup_root = config.cgroup_root;
  host.cgroup_parent = config.cgroup_parent;
  host.bridge = config.bridge;
  host.on_cgroup = config.on_cgroup;
  ASSIGN_OR_RETURN(std::unique_ptr<HostSetup> linux_host, LinuxHostSetup::Create(std::move(host)));
  return Open(std::move(config), clock, std::move(backend), std::move(linux_host));
}

absl::StatusOr<std::unique_ptr<Launcher>> Launcher::Open(LauncherConfig config, const Clock& clock,
                                                         std::unique_ptr<VmmBackend> backend,
                                                         std::unique_ptr<HostSetup> host) {
  std::unique_ptr<Launcher> l(new Launcher(std::move(config), clock));
  l->backend_ = std::move(backend);
  l->host_ = std::move(host);
  l->guest_stream_slots_ = std::make_shared<Slots>(l->config_.max_guest_streams);
  const LauncherConfig& c = l->config_;
  if (c.jail && (c.jail_uid_first == 0 || c.jail_uid_first > c.jail_uid_last)) {
    return absl::InvalidArgumentError("--jail-uid-range must be FIRST-LAST with 0 < FIRST <= LAST");
  }
  if (!c.jail) log::Warn("VMMs run unjailed, as root (--jail off): for debugging only", {});
  RETURN_IF_ERROR(EnsurePrivateDir(c.state_dir));
  RETURN_IF_ERROR(EnsurePrivateDir(c.state_dir + "/vms"));
  ASSIGN_OR_RETURN(l->images_db_, sqlite::Db::Open(c.state_dir + "/images.db", ImageMigrations()));
  ASSIGN_OR_RETURN(l->store_, VmStore::Open(c.state_dir + "/launcher.db", clock));
  ASSIGN_OR_RETURN(l->templates_, TemplateStore::Open(c.state_dir + "/templates"));
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
  if (net_slot >= 0) host_->DetachNic(net_slot);
  host_->DestroyCgroup(name);
  host_->ReleaseFiles(VmDir(name), RunDir(name));
}

absl::StatusOr<std::shared_ptr<AgentClient>> Launcher::ConnectAgent(
    const std::string& name, std::shared_ptr<Vmm> vmm, absl::Time deadline,
    std::shared_ptr<std::atomic<bool>> abort, std::function<bool()> cancelled) {
  AgentClient::Options o;
  o.vm = "vms/" + name;
  o.max_guest_streams = config_.max_guest_streams_per_vm;
  o.guest_stream_slots = guest_stream_slots_;
  o.max_queued_bytes = config_.max_queued_bytes_per_vm;
  o.hostname = name;  // a VM name is a valid hostname
  std::string model;
  if (auto vm = store_->Get(name); vm.ok()) {
    model = vm->spec.model;
    o.env = vm->spec.env;
    if (!vm->spec.model.empty()) o.env["CLAWOS_MODEL"] = vm->spec.model;  // the agent's default
    o.machine_id = MachineId(*vm);
  }
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
    o.on_guest_stream = [self = self_, h, name, model](std::unique_ptr<AgentStream> s,
                                                       apb::Frame first) {
      {
        std::lock_guard lock(self->mu);
        if (self->launcher) self->launcher->Touch(name);
      }
      h(name, model, std::move(s), std::move(first));
    };
  }
  std::string socket = vmm->AgentSocket();
  ASSIGN_OR_RETURN(std::unique_ptr<AgentClient> c,
                   AgentClient::Connect(socket, std::move(o), deadline, [vmm, abort, cancelled] {
                     return !(abort && *abort) && !(cancelled && cancelled()) && vmm->Running();
                   }));
  return std::shared_ptr<AgentClient>(std::move(c));
}

void Launcher::ReconcileVm(Vm vm) {
  const std::string& name = vm.spec.name;
  auto vmm =
      backend_->Adopt(static_cast<pid_t>(vm.pid), vm.pid_start_time, VmDir(name), RunDir(name));
  if (vmm.ok() && vm.state == VmState::kRunning) {
    Runtime rt;
    rt.vmm = std::move(*vmm);
    auto agent = ConnectAgent(name, rt.vmm, absl::Now() + absl::Seconds(15));
    if (agent.ok()) rt.agent = *agent;  // else: reconnected on first use
    rt.last_activity = rt.last_ping = clock_.Now();
    {
      std::lock_guard lock(mu_);
      running_[name] = std::move(rt);
    }
    log::Info("vm re-adopted", {{"vm", name},
                                {"pid", vm.pid},
                                {"agent", agent.ok() ? "connected" : agent.status().ToString()}});
    return;
  }
  // Gone, or caught mid-boot or mid-stop: make sure nothing of it is left.
  if (vmm.ok()) (*vmm)->Kill().IgnoreError();
  CleanUp(name, vm.net_slot);
  std::string was = VmStateName(vm.state);
  Fail(vm, FailureKind::kVmmExited,
       absl::UnavailableError(absl::StrCat(
           "the VMM (pid ", vm.pid, ") exited while the launcher was down (VM was ", was, ")")))
      .IgnoreError();
}

absl::Status Launcher::Reconcile() {
  for (Vm vm : store_->List()) {
    if (vm.state == VmState::kCreating) {  // a create that never finished
      std::error_code ec;
      std::filesystem::remove_all(VmDir(vm.spec.name), ec);
      store_->Delete(vm.spec.name).IgnoreError();
    }
    if (vm.state == VmState::kRunning || vm.state == VmState::kBooting ||
        vm.state == VmState::kStopping) {
      ReconcileVm(std::move(vm));
    }
  }
  // Leftovers without a record: VM directories of VMs that are gone.
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(config_.state_dir + "/vms", ec)) {
    std::string name = e.path().filename().string();
    if (store_->Get(name).status().code() == absl::StatusCode::kNotFound) {
      log::Warn("removing orphaned VM directory", {{"dir", e.path().string()}});
      std::filesystem::remove_all(e.path(), ec);
      CleanUp(name);
    }
  }
  // Cgroups and taps no running VM owns (a crash, or a removal that failed).
  std::set<std::string> running;
  std::set<int> slots;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, rt] : running_) running.insert(name);
  }
  for (const Vm& vm : store_->List()) {
    if (vm.state == VmState::kRunning && vm.net_slot >= 0) slots.insert(vm.net_slot);
  }
  host_->RemoveOrphans(running, slots);
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
  {
    std::lock_guard db_lock(images_db_->mutex());
    ASSIGN_OR_RETURN(auto st, images_db_->Prepare("DELETE FROM images WHERE name = ?"));
    st.Bind(1, name);
    RETURN_IF_ERROR(st.Run());
  }
  for (const TemplateRecord& t : templates_->List()) {  // its templates go with it
    if (t.key.image == name) templates_->Delete(t.id).IgnoreError();
  }
  return absl::OkStatus();
}

absl::StatusOr<Vm> Launcher::CreateVm(const VmSpec& spec) {
  RETURN_IF_ERROR(ValidateVmSpec(spec, config_.limits));
  if (spec.network == "bridge" && !host_->has_bridge()) {
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
  std::shared_ptr<Vmm> vmm = it->second.vmm;  // outlives a concurrent stop
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

absl::StatusOr<std::shared_ptr<VmLog>> Launcher::Logs(const std::string& name) {
  std::lock_guard lock(mu_);
  if (auto it = logs_.find(name); it != logs_.end()) return it->second;
  RETURN_IF_ERROR(store_->Get(name).status());
  ASSIGN_OR_RETURN(auto log, VmLog::Open(VmDir(name), config_.log_bounds));
  logs_[name] = log;
  return log;
}

}  // namespace clawos::launcher
