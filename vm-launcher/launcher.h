// The launcher's core, without the network: images imported once (fully
// verified), VMs created with their own disks, started only from an image
// whose signature and digests check out at that moment, gated on the guest
// agent's handshake, rolled back completely when a start fails, stopped in
// order, deleted with their disks; exec and files over the agent channel;
// logs and state changes kept for readers. A housekeeping thread notices
// VMMs that died, agents that went silent and VMs left idle. The gRPC
// service only adapts. The VMM (vmm.h) and the host's part (host_setup.h)
// are interfaces: QEMU and this Linux host in the daemon, fakes in tests.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/crypto/ed25519.h"
#include "common/sqlite/db.h"
#include "image/manifest.h"
#include "vm-launcher/agent_client.h"
#include "vm-launcher/events.h"
#include "vm-launcher/host_setup.h"
#include "vm-launcher/network.h"
#include "vm-launcher/template_store.h"
#include "vm-launcher/verified_images.h"
#include "vm-launcher/vm.h"
#include "vm-launcher/vm_log.h"
#include "vm-launcher/vm_store.h"
#include "vm-launcher/vm_transition.h"
#include "vm-launcher/vmm.h"

namespace clawos::launcher {

// A guest-opened inference stream of VM `vm`, whose model (VmSpec.model,
// "" for any) its token names (see inference_tunnel.h).
using InferenceHandler = std::function<void(const std::string& vm, const std::string& model,
                                            std::unique_ptr<AgentStream>, apb::Frame first)>;

struct LauncherConfig {
  std::string state_dir = "/var/lib/clawos/launcher";
  std::string cgroup_root = "/sys/fs/cgroup";
  std::string cgroup_parent = "clawos";
  std::string accel = "tcg";
  crypto::Ed25519PublicKey signing_pubkey{};  // CLAWOS_SIGNING_PUBKEY
  VmLimits limits;
  int max_vms = 16;
  absl::Duration ready_timeout = absl::Seconds(120);
  absl::Duration stop_grace = absl::Seconds(20);
  // Memory-pressure gate: refuse a start that would leave less than this
  // much MemAvailable (after the guest's memory and the VMM's overhead).
  int64_t min_available_mib = 256;
  std::string meminfo_path = "/proc/meminfo";
  // Stop a VM with no exec, file or inference traffic for this long; 0: never.
  absl::Duration idle_timeout = absl::ZeroDuration();
  // Ping each running agent this often; three missed pings fail the VM.
  // Pings do not wait in line: every VM's ping is out at once.
  absl::Duration health_interval = absl::Seconds(10);
  // Guest-opened streams (the inference tunnel): at once per VM, and across
  // the launcher (each holds a thread). More are refused, not queued.
  int max_guest_streams_per_vm = 8;
  int max_guest_streams = 256;
  // Unread frames a VM's channel may hold, all its streams together.
  size_t max_queued_bytes_per_vm = 16 << 20;
  // Bounds on each VM's log (see vm_log.h).
  LogBounds log_bounds;
  // Set to tunnel the guests' inference endpoint; unset: no tunnel.
  InferenceHandler on_inference;
  // Called after a VM is deleted (its tokens are revoked there).
  std::function<void(const std::string& vm)> on_delete;
  // Called when a VM's cgroup exists, before its VMM starts (the monitor
  // watches it from there); an error fails the start.
  std::function<absl::Status(const std::string& vm, const std::string& cgroup_path,
                             uint64_t cgroup_id)>
      on_cgroup;
  // Called when a cgroup on_cgroup was told of is gone for good without a VM
  // being deleted (a template's build; a VM's goes with on_delete).
  std::function<void(const std::string& name)> on_cgroup_gone;
  // Every VMM starts in its own jail (vmm_jail.h) as a uid of this range, one
  // per VM for its life. Off for debugging only: QEMU then runs as root.
  bool jail = true;
  std::string jailer;  // clawos-jailer; empty: beside this program
  uint32_t jail_uid_first = 200000;
  uint32_t jail_uid_last = 265535;
  // Start VMs from templates (template_store.h): a VM whose shape has one is
  // restored from it; the first start of a shape makes it. BRIDGE VMs and
  // starts with StartOptions::cold boot. Needs jail_uid_first < jail_uid_last
  // when jailed (the last uid of the range is the template builds').
  bool templates = true;
  // BRIDGE network mode; unset: VMs asking for it are refused.
  std::optional<BridgeConfig> bridge;
  // Run the housekeeping thread (tests may drive Housekeep() themselves).
  bool housekeeping = true;
};

// Where a start is: LaunchVm's progress.
enum class StartPhase { kCreating, kVerifyingImage, kBooting, kWaitingForAgent };

// The caller of a start: it may stop waiting (a gRPC deadline, a cancel).
struct StartOptions {
  absl::Time deadline =
      absl::InfiniteFuture();       // the wait ends at the earlier of this and ready_timeout
  std::function<bool()> cancelled;  // polled while the guest boots; may be empty
  bool cold = false;                // boot, even where a template could restore it
  // Told as each phase begins, on the caller's thread; `detail` e.g.
  // "restoring templates/<id>". May be empty.
  std::function<void(StartPhase, const std::string& detail)> progress;
};

struct ImageRecord {
  std::string name;
  std::string dir;
  std::string root_hash;
  absl::Time import_time;
};

class Launcher {
 public:
  // Opens the state and reconciles it with what really runs (see Reconcile),
  // with QEMU (qemu_backend.h) and this host (LinuxHostSetup) made from `config`.
  static absl::StatusOr<std::unique_ptr<Launcher>> Open(LauncherConfig config, const Clock& clock);
  // The same with the VMM and the host's part given (tests give fakes);
  // `config`'s cgroup, accel, bridge, jailer and on_cgroup fields are then theirs.
  static absl::StatusOr<std::unique_ptr<Launcher>> Open(LauncherConfig config, const Clock& clock,
                                                        std::unique_ptr<VmmBackend> backend,
                                                        std::unique_ptr<HostSetup> host);
  // Leaves running VMs running: the next Open re-adopts them.
  ~Launcher();

  // Verifies DIR completely (signature, digests, whole hash tree) and records it.
  absl::StatusOr<ImageRecord> ImportImage(const std::string& name, const std::string& dir);
  std::vector<ImageRecord> ListImages() const;
  absl::StatusOr<ImageRecord> GetImage(const std::string& name) const;
  // FAILED_PRECONDITION while a VM uses it. The image's files are not touched.
  absl::Status DeleteImage(const std::string& name);

  // Templates: those on disk; one made now for `image` and the shape of
  // `shape` (vcpus, memory, disk sizes; replacing one of the same key); one
  // deleted (VMs restored from it keep running).
  std::vector<TemplateRecord> ListTemplates() const;
  absl::StatusOr<TemplateRecord> MakeTemplate(const std::string& image, const VmSpec& shape);
  absl::Status DeleteTemplate(const std::string& id);

  absl::StatusOr<Vm> CreateVm(const VmSpec& spec);
  // Returns once the agent finished its handshake (RUNNING), or fails with
  // the reason and the VM FAILED with everything it made undone. When the
  // caller's deadline passes or it cancels first, the start is aborted as a
  // stop would abort it: DEADLINE_EXCEEDED or CANCELLED, the VM STOPPED.
  absl::StatusOr<Vm> StartVm(const std::string& name, const StartOptions& options = {});
  // StartVm for a VM that may not exist: created from `spec` first (its name
  // is the VM's). A VM created here is deleted again when the caller went
  // away before it ran (deadline, cancel): nothing is left behind. A VM that
  // exists must have `spec.image` (FAILED_PRECONDITION otherwise); a running
  // one is returned as it is.
  absl::StatusOr<Vm> LaunchVm(const VmSpec& spec, const StartOptions& options);
  // Graceful: the agent is asked to shut down, QEMU is killed after `grace`.
  // `force` kills at once. A BOOTING VM's start is aborted.
  absl::StatusOr<Vm> StopVm(const std::string& name, absl::Duration grace, bool force = false);
  absl::StatusOr<Vm> StopVm(const std::string& name) { return StopVm(name, config_.stop_grace); }
  // `force` stops a running VM first.
  absl::Status DeleteVm(const std::string& name, bool force = false);
  absl::StatusOr<Vm> GetVm(const std::string& name) const { return store_->Get(name); }
  std::vector<Vm> ListVms() const { return store_->List(); }

  // The agent of a RUNNING VM (reconnected if its channel dropped); counts as
  // activity for the idle timeout.
  absl::StatusOr<std::shared_ptr<AgentClient>> Agent(const std::string& name);
  void Touch(const std::string& name);
  absl::StatusOr<std::shared_ptr<VmLog>> Logs(const std::string& name);
  VmEvents& events() { return events_; }

  // One housekeeping pass: console lines into the logs, dead VMMs and silent
  // agents noticed, idle VMs stopped.
  void Housekeep();
  std::string VmDir(const std::string& name) const;
  // The VM's agent and QMP sockets and console log live here (the jail's /run/vm).
  std::string RunDir(const std::string& name) const { return VmDir(name) + "/run"; }
  const LauncherConfig& config() const { return config_; }
  // The host's part (cgroup paths and NICs for a VM's status).
  const HostSetup& host() const { return *host_; }

 private:
  // A restore's template: its memory and device state (a descriptor the
  // start closes).
  struct Restore {
    TemplateRecord record;
    std::shared_ptr<TemplateRam> ram;
    int state_fd = -1;
  };
  struct Runtime {
    std::shared_ptr<Vmm> vmm;
    std::shared_ptr<AgentClient> agent;
    absl::Time last_activity;
    absl::Time last_ping;
    uint64_t ping_nonce = 0;  // the ping out now (0: none)
    int missed_pings = 0;
  };
  // One VM's housekeeping pass (see Housekeep).
  void HousekeepVm(const std::string& name);
  // The console's end for a failure reason: console.log pumped into the VM's
  // log first, then the log's console tail (console.log may have been
  // truncated); the file's own tail when the log cannot be opened.
  std::string PumpedConsoleTail(const std::string& name, const Vmm& vmm);
  // Sends a ping when one is due, or settles the one out; three misses in a
  // row stop and fail the VM. Never waits for a guest.
  void CheckHealth(const std::string& name);
  Launcher(LauncherConfig config, const Clock& clock) : config_(std::move(config)), clock_(clock) {}
  absl::Status Reconcile();
  absl::StatusOr<ImageRecord> FindImage(const std::string& name) const;
  // Stores `vm` and tells the watchers.
  absl::Status Save(const Vm& vm, VmState previous);
  // Applies `t` to `vm` (vm_transition.h), then Save.
  absl::Status Move(Vm& vm, const VmTransition& t);
  absl::Status Fail(Vm& vm, FailureKind kind, const absl::Status& why);
  absl::Status CheckMemory(const VmSpec& spec) const;
  // A uid of the jail range no other VM holds; RESOURCE_EXHAUSTED when none is left.
  absl::StatusOr<uint32_t> AllocateJailUid() const;
  // A free address on the bridge; RESOURCE_EXHAUSTED when none is left.
  absl::StatusOr<int> AllocateNetSlot() const;
  // StartVm's parts: the image checked again; the VM moved to BOOTING
  // (its uid and slot given) under the lock; the VMM request; the end of a
  // start that did not reach RUNNING (FAILED, or STOPPED when a stop or the
  // caller ended it).
  absl::StatusOr<image::Manifest> CheckBootImage(const Vm& vm, ImageRecord* image) const;
  absl::StatusOr<Vm> BeginStart(const std::string& name, std::shared_ptr<std::atomic<bool>> abort);
  VmmRequest Request(const Vm& vm, const ImageRecord& image, const image::Manifest& manifest,
                     const HostCgroup& cgroup) const;
  // Starts the VMM: restored from `restore` when given (a restore that
  // fails deletes the template and boots instead); sets vm.template_id.
  absl::StatusOr<std::unique_ptr<Vmm>> Launch(Vm& vm, VmmRequest request,
                                              std::optional<Restore> restore);
  absl::Status EndFailedStart(Vm& vm, const std::atomic<bool>& abort, bool abandoned,
                              const StartOptions& options, FailureKind kind,
                              const absl::Status& why);
  // Why a booting VM did not become ready: `why` with the VMM's own words
  // when it exited by itself, and the console's end. Stops the VMM.
  absl::Status BootFailure(const std::string& name, Vmm& vmm, const absl::Status& why);
  // `abort` and `cancelled`, when given, end the wait early (a stop during
  // the start; the caller gone).
  absl::StatusOr<std::shared_ptr<AgentClient>> ConnectAgent(
      const std::string& name, std::shared_ptr<Vmm> vmm, absl::Time deadline,
      std::shared_ptr<std::atomic<bool>> abort = nullptr,
      std::function<bool()> cancelled = nullptr);
  // Templates (launcher_template.cc).
  TemplateKey KeyFor(const VmSpec& shape, const ImageRecord& image,
                     const image::Manifest& manifest) const;
  // The template to restore `vm` from, made now when its shape has none;
  // nullopt (a cold boot) when templates are off or do not apply, or when
  // making or loading it failed (said in the VM's log; a failed key is not
  // tried again for 10 minutes).
  std::optional<Restore> FindRestore(const Vm& vm, const ImageRecord& image,
                                     const image::Manifest& manifest, const StartOptions& options,
                                     const std::atomic<bool>& abort);
  // OK when template builds have their uid (jailed: the range's last, held
  // by no VM).
  absl::Status TemplateUidFree() const;
  // Who waits for a build: it ends early at `deadline` or once `gone`.
  struct BuildCaller {
    absl::Time deadline = absl::InfiniteFuture();
    std::function<bool()> gone;
  };
  // Makes the template for `key` (the caller holds template_build_mu_):
  // BootTemplate into its build directory, then the store takes it in.
  // BootTemplate boots the guest with its RAM shared in `ram_fd`, quiesces
  // it and saves its device state to DIR/state; the guest and its host part
  // are gone when it returns.
  absl::StatusOr<TemplateRecord> BuildTemplate(const TemplateKey& key, const ImageRecord& image,
                                               const image::Manifest& manifest,
                                               const BuildCaller& caller);
  absl::Status BootTemplate(const TemplateKey& key, const ImageRecord& image,
                            const image::Manifest& manifest, const std::string& dir, int ram_fd,
                            const BuildCaller& caller);
  // Cgroup, sockets and tap of a VM without a VMM.
  void CleanUp(const std::string& name, int net_slot = -1);
  // Adopts the VMM of `vm` (RUNNING) or ends what is left of it.
  void ReconcileVm(Vm vm);
  void HousekeepLoop();

  LauncherConfig config_;
  const Clock& clock_;
  std::unique_ptr<VmmBackend> backend_;
  std::unique_ptr<HostSetup> host_;
  std::unique_ptr<sqlite::Db> images_db_;
  std::unique_ptr<VmStore> store_;
  VmEvents events_{kVmEventsKept};
  mutable std::mutex mu_;  // guards state transitions and the maps below
  std::map<std::string, Runtime> running_;
  std::map<std::string, std::shared_ptr<std::atomic<bool>>> booting_;  // abort flags
  std::map<std::string, std::shared_ptr<VmLog>> logs_;
  std::atomic<bool> quit_{false};
  std::thread housekeeper_;
  struct Self {
    explicit Self(Launcher* l) : launcher(l) {}
    std::mutex mu;
    Launcher* launcher;
  };
  std::shared_ptr<Self> self_ = std::make_shared<Self>(this);
  std::shared_ptr<Slots> guest_stream_slots_;
  std::unique_ptr<TemplateStore> templates_;
  mutable VerifiedImages verified_images_;  // CheckBootImage's memory
  std::mutex template_build_mu_;            // one build at a time; guards template_failed_
  std::map<std::string, absl::Time> template_failed_;
};

}  // namespace clawos::launcher
