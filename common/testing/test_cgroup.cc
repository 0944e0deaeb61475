#include "common/testing/test_cgroup.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>

namespace clawos::testing {

TestCgroup::TestCgroup(const std::string& name) {
  static std::atomic<int> next{0};
  std::string root = std::filesystem::exists("/sys/fs/cgroup/cgroup.controllers")
                         ? "/sys/fs/cgroup"
                         : "/sys/fs/cgroup/unified";
  path_ = root + "/" + name + "-" + std::to_string(getpid()) + "-" + std::to_string(next++);
  if (mkdir(path_.c_str(), 0755) != 0) return;
  struct stat st {};
  if (stat(path_.c_str(), &st) == 0) id_ = st.st_ino;
}

TestCgroup::~TestCgroup() {
  if (ok()) rmdir(path_.c_str());
}

bool TestCgroup::Add(pid_t pid) const {
  std::ofstream f(path_ + "/cgroup.procs");
  f << pid;
  f.flush();
  return f.good();
}

}  // namespace clawos::testing
