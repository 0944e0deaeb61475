// What a VM needs of the host around its VMM, one step at a time, each with
// its undo: its cgroup (limits from its spec; handed to the monitor, when
// one watches, before any VMM runs in it), its NIC on the bridge (BRIDGE
// VMs), and its files made ready for a jailed VMM. Launcher::StartVm
// sequences the steps and undoes the ones done, newest first, when a later
// one fails (rollback.h). LinuxHostSetup does them on this host; tests put
// a fake in its place. The undos also clean up after a VM of an earlier
// launcher run, so they must work on a VM this object never set up.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "vm-launcher/cgroup.h"
#include "vm-launcher/network.h"
#include "vm-launcher/vm.h"
#include "vm-launcher/vmm.h"

namespace clawos::launcher {

struct HostCgroup {
  std::string v2_path;
  uint64_t id = 0;
  std::vector<std::string> procs;  // the VMM joins these before it executes
};

struct HostNic {
  std::string tap, mac, netns, guest_cmdline;
};

class HostSetup {
 public:
  virtual ~HostSetup() = default;
  virtual absl::StatusOr<HostCgroup> CreateCgroup(const Vm& vm) = 0;
  // Kills what is left in the VM's cgroup and removes it.
  virtual void DestroyCgroup(const std::string& vm) = 0;
  // The tap of bridge slot `slot`, usable by uid `owner` (0: root only);
  // FAILED_PRECONDITION without a bridge.
  virtual absl::StatusOr<HostNic> AttachNic(int slot, uint32_t owner) = 0;
  virtual void DetachNic(int slot) = 0;
  // The run directory made; for a jailed VMM (request.jail_uid ≠ 0) it and
  // the VM's own disks handed to that uid, the image's files checked
  // readable by it, and the jail's mount point made.
  virtual absl::Status PrepareFiles(const VmmRequest& request) = 0;
  // The sockets, the pid file and the jail's mount point removed.
  virtual void ReleaseFiles(const std::string& vm_dir, const std::string& run_dir) = 0;
  // Cgroups of VMs not in `vms` and taps of slots not in `slots` removed
  // (what a crash or a failed removal left behind).
  virtual void RemoveOrphans(const std::set<std::string>& vms, const std::set<int>& slots) = 0;
  virtual bool has_bridge() const = 0;
  // What a VM's status shows: its cgroup's v2 path (whether or not it exists
  // now), and the NIC of a bridge slot (nullopt without a bridge).
  virtual std::string CgroupPath(const std::string& vm) const = 0;
  virtual std::optional<VmNic> Nic(int slot) const = 0;
};

struct LinuxHostOptions {
  std::string cgroup_root = "/sys/fs/cgroup";
  std::string cgroup_parent = "clawos";
  std::optional<BridgeConfig> bridge;
  // Called once the cgroup exists, before a VMM runs in it; an error fails the step.
  std::function<absl::Status(const std::string& vm, const std::string& cgroup_path,
                             uint64_t cgroup_id)>
      on_cgroup;
};

class LinuxHostSetup : public HostSetup {
 public:
  // Detects the cgroup layout and sets the bridge up (when configured).
  static absl::StatusOr<std::unique_ptr<LinuxHostSetup>> Create(LinuxHostOptions options);

  absl::StatusOr<HostCgroup> CreateCgroup(const Vm& vm) override;
  void DestroyCgroup(const std::string& vm) override;
  absl::StatusOr<HostNic> AttachNic(int slot, uint32_t owner) override;
  void DetachNic(int slot) override;
  absl::Status PrepareFiles(const VmmRequest& request) override;
  void ReleaseFiles(const std::string& vm_dir, const std::string& run_dir) override;
  void RemoveOrphans(const std::set<std::string>& vms, const std::set<int>& slots) override;
  bool has_bridge() const override { return network_ != nullptr; }
  std::string CgroupPath(const std::string& vm) const override;
  std::optional<VmNic> Nic(int slot) const override;

 private:
  explicit LinuxHostSetup(LinuxHostOptions o) : options_(std::move(o)) {}
  LinuxHostOptions options_;
  CgroupLayout layout_ = CgroupLayout::kUnified;
  std::unique_ptr<BridgeNetwork> network_;
};

}  // namespace clawos::launcher
