// The launcher's core, without the network: images imported once (fully
// verified), VMs created with their own disks, started only from an image
// whose signature and digests check out at that moment, gated on the guest
// agent's readiness, rolled back completely when a start fails, stopped in
// order, deleted with their disks. The gRPC service (to come) only adapts.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/crypto/ed25519.h"
#include "common/sqlite/db.h"
#include "image/manifest.h"
#include "vm-launcher/cgroup.h"
#include "vm-launcher/vm.h"
#include "vm-launcher/vm_store.h"
#include "vm-launcher/vmm_process.h"

namespace clawos::launcher {

struct LauncherConfig {
  std::string state_dir = "/var/lib/clawos/launcher";
  std::string cgroup_root = "/sys/fs/cgroup";
  std::string cgroup_parent = "clawos";
  std::string accel = "tcg";
  crypto::Ed25519PublicKey signing_pubkey{};  // CLAWOS_SIGNING_PUBKEY
  VmLimits limits;
  int max_vms = 8;
  absl::Duration ready_timeout = absl::Seconds(120);
  absl::Duration stop_grace = absl::Seconds(20);
};

struct ImageRecord {
  std::string name;
  std::string dir;
  std::string root_hash;
  absl::Time import_time;
};

class Launcher {
 public:
  // Opens the state and reconciles it with what really runs (see Reconcile).
  static absl::StatusOr<std::unique_ptr<Launcher>> Open(LauncherConfig config, const Clock& clock);

  // After a restart or `kill -9` of the launcher: a VM whose VMM still runs
  // (same pid and start time) is adopted and stays RUNNING; a VM whose VMM is
  // gone becomes FAILED ("... exited while the launcher was down") and its
  // cgroup and sockets are cleaned; half-done transitions are settled.
  absl::Status Reconcile();
  ~Launcher();

  // Verifies DIR completely (signature, digests, whole hash tree) and records it.
  absl::StatusOr<ImageRecord> ImportImage(const std::string& name, const std::string& dir);
  std::vector<ImageRecord> ListImages() const;

  absl::StatusOr<Vm> CreateVm(const VmSpec& spec);
  // Returns once the agent answered (RUNNING), or FAILED with everything undone.
  absl::StatusOr<Vm> StartVm(const std::string& name);
  absl::StatusOr<Vm> StopVm(const std::string& name);
  absl::Status DeleteVm(const std::string& name);
  absl::StatusOr<Vm> GetVm(const std::string& name) const { return store_->Get(name); }
  std::vector<Vm> ListVms() const { return store_->List(); }

  std::string VmDir(const std::string& name) const;

 private:
  Launcher(LauncherConfig config, const Clock& clock) : config_(std::move(config)), clock_(clock) {}
  absl::StatusOr<ImageRecord> FindImage(const std::string& name) const;
  absl::Status Fail(Vm& vm, const absl::Status& why);

  LauncherConfig config_;
  const Clock& clock_;
  CgroupLayout layout_ = CgroupLayout::kUnified;
  std::unique_ptr<sqlite::Db> images_db_;
  std::unique_ptr<VmStore> store_;
  mutable std::mutex mu_;  // serialises lifecycle operations
  std::map<std::string, std::unique_ptr<VmmProcess>> running_;
};

}  // namespace clawos::launcher
