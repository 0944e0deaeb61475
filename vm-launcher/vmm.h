// The VMM as the launcher's core sees it, whatever program it is: started
// for one VM (in its cgroup, in its jail when the VM has a jail uid),
// adopted again after a launcher restart, stopped in order. The core needs
// from it only a pid to record, whether it still runs, where the guest
// agent's channel and the serial console are, and why it exited when it
// exited by itself. QemuBackend (qemu_backend.h) is the implementation that
// boots real guests; tests put a fake in its place.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "image/manifest.h"

namespace clawos::launcher {

// What a VMM itself needs beyond the guest's memory: both the start's memory
// gate (MemAvailable) and the cgroup's memory.max count it.
inline constexpr int64_t kVmmOverheadMib = 128;

class Vmm {
 public:
  virtual ~Vmm() = default;
  // The VMM's pid in the launcher's pid namespace, and its start time
  // (ProcessStartTime): the two identify it across launcher restarts.
  virtual pid_t pid() const = 0;
  virtual uint64_t start_time() const = 0;
  virtual bool Running() = 0;
  // Returns once the VMM is gone: waits up to `grace` for an exit already
  // under way (the guest powering off), then asks the VMM to quit, then kills it.
  virtual absl::Status Stop(absl::Duration grace) = 0;
  // Kills it at once (SIGKILL) and returns once it is gone: for a VMM whose
  // boot nobody finishes (found mid-boot after a launcher restart).
  virtual absl::Status Kill() = 0;
  // The host end of the guest agent's byte stream (a unix socket).
  virtual std::string AgentSocket() const = 0;
  // The file the guest's serial console is written to.
  virtual std::string ConsoleLog() const = 0;
  // What the VMM said about its own exit (its stderr's end, safe text), or
  // "" when it said nothing.
  virtual std::string ExitMessage() const = 0;
  // For a template's VMM (VmmRequest::ram_shared): pauses the guest and
  // writes its device state to `fd`; its RAM is already in the shared file.
  // The VMM stays paused until stopped.
  virtual absl::Status SaveState(int fd) = 0;
};

// One VM's VMM to start: host paths throughout.
struct VmmRequest {
  std::string vm;  // its name
  const image::Manifest* manifest = nullptr;
  std::string image_dir;
  std::string vm_dir;   // <state>/vms/<vm>: its disks, the VMM's own log
  std::string run_dir;  // the agent and control sockets and the console log
  std::string runtime_disk, workspace_disk;
  int vcpus = 1;
  int memory_mib = 256;
  // BRIDGE networking: a tap in network namespace `netns`, and what the
  // guest's kernel command line gains for it.
  std::string tap, mac, netns, guest_cmdline;
  uint32_t jail_uid = 0;  // 0: unjailed (--jail off)
  // The cgroup.procs files the VMM joins before it executes.
  std::vector<std::string> cgroup_procs;
  // Templates (the caller keeps these descriptors): guest RAM mapped from
  // `ram_fd`, shared for a template's boot, else private copy-on-write; with
  // `state_fd`, the VM is restored from that device state instead of booted.
  int ram_fd = -1;
  bool ram_shared = false;
  int state_fd = -1;
};

class VmmBackend {
 public:
  virtual ~VmmBackend() = default;
  // What a template made with this backend is bound to (the VMM binary's
  // hash, the accelerator, what else shapes the guest's machine); "" when
  // the backend makes no templates.
  virtual std::string Identity() const = 0;
  virtual absl::StatusOr<std::unique_ptr<Vmm>> Launch(const VmmRequest& request) = 0;
  // Takes a VMM of an earlier launcher run back (pid and start time as
  // recorded, its run directory); NOT_FOUND when that process is gone.
  virtual absl::StatusOr<std::unique_ptr<Vmm>> Adopt(pid_t pid, uint64_t start_time,
                                                     const std::string& vm_dir,
                                                     const std::string& run_dir) = 0;
};

}  // namespace clawos::launcher
