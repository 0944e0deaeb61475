// A cgroup per VM holding its VMM process, with memory, CPU and pids limits.
// Works on pure cgroup v2 hosts (production: memory.max, cpu.max, pids.max)
// and on hybrid hosts (limits in the v1 memory/cpu/pids hierarchies, membership
// in the v2 tree at <root>/unified so the eBPF monitor can filter on the v2
// cgroup id, which bpf_get_current_cgroup_id() returns).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace clawos::launcher {

enum class CgroupLayout { kUnified, kHybrid };

struct CgroupLimits {
  int64_t memory_bytes = 0;  // 0: no limit
  int64_t cpu_quota_us = 0;  // per period; 0: no limit
  int64_t cpu_period_us = 100000;
  int64_t pids_max = 0;  // 0: no limit
};

// kUnified when <root>/cgroup.controllers exists, kHybrid when
// <root>/unified/cgroup.controllers does; else FAILED_PRECONDITION.
absl::StatusOr<CgroupLayout> DetectCgroupLayout(const std::string& root = "/sys/fs/cgroup");

class VmCgroup {
 public:
  // Makes <parent>/<name> in every hierarchy that applies and writes the limits.
  static absl::StatusOr<VmCgroup> Create(const std::string& root, CgroupLayout layout,
                                         const std::string& parent, const std::string& name,
                                         const CgroupLimits& limits);
  // Re-opens an existing one (after a launcher restart); NOT_FOUND if absent.
  static absl::StatusOr<VmCgroup> Open(const std::string& root, CgroupLayout layout,
                                       const std::string& parent, const std::string& name);

  absl::Status AddProcess(pid_t pid) const;
  // The cgroup.procs files of every hierarchy, for a child to join itself
  // before it executes (SpawnWithLog's join_cgroups).
  std::vector<std::string> ProcsFiles() const;
  // Processes still in the cgroup.
  std::vector<pid_t> Processes() const;
  // Kills what is left (SIGKILL) and removes the directories.
  absl::Status Destroy() const;

  // The v2 directory and its cgroup id (the directory's inode number).
  const std::string& v2_path() const { return v2_path_; }
  uint64_t id() const { return id_; }

 private:
  std::string v2_path_;
  std::vector<std::string> v1_paths_;  // memory, cpu, pids (hybrid only)
  uint64_t id_ = 0;
};

}  // namespace clawos::launcher
