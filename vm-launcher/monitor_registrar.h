// Hands each VM's cgroup to clawos-monitor: CreateTarget (target id = VM
// name, agent agents/<name>) once the cgroup exists and before the VMM
// starts, so the VMM's first system call is already watched; DeleteTarget
// when the VM is deleted. A start whose cgroup the monitor refuses fails:
// with a monitor configured, no VM runs unwatched.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace clawos::launcher {

class MonitorRegistrar {
 public:
  explicit MonitorRegistrar(std::string monitor_addr) : addr_(std::move(monitor_addr)) {}
  // Replaces the VM's target from an earlier start (its cgroup is new).
  absl::Status Register(const std::string& vm, const std::string& cgroup_path, uint64_t cgroup_id);
  void Unregister(const std::string& vm);

 private:
  std::string addr_;
};

}  // namespace clawos::launcher
