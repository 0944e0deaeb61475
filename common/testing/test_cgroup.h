// A cgroup v2 directory for a test or benchmark, removed at the end: under
// /sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts (where
// bpf_get_current_cgroup_id() looks). Needs root; ok() says whether it exists.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace clawos::testing {

class TestCgroup {
 public:
  // `name` is made unique with the pid and a counter.
  explicit TestCgroup(const std::string& name);
  ~TestCgroup();
  TestCgroup(const TestCgroup&) = delete;

  bool ok() const { return id_ != 0; }
  const std::string& path() const { return path_; }
  // The cgroup id: the directory's inode number.
  uint64_t id() const { return id_; }
  // Moves `pid` into it; 0 moves the caller.
  bool Add(pid_t pid) const;

 private:
  std::string path_;
  uint64_t id_ = 0;
};

}  // namespace clawos::testing
