#include "vm-launcher/cgroup.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status.h"

namespace clawos::launcher {
namespace {

absl::Status Write(const std::string& path, const std::string& value) {
  std::ofstream f(path);
  if (!f) return ErrnoStatus(errno, absl::StrCat("opening ", path));
  f << value;
  f.flush();
  if (!f) return absl::InternalError(absl::StrCat("writing \"", value, "\" to ", path));
  return absl::OkStatus();
}

absl::Status Mkdir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, absl::StrCat("creating cgroup ", path));
  }
  return absl::OkStatus();
}

uint64_t Inode(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_ino) : 0;
}

bool ValidName(const std::string& n) {
  return !n.empty() && n.size() <= 64 && n.find('/') == std::string::npos && n != "." && n != "..";
}

}  // namespace

absl::StatusOr<CgroupLayout> DetectCgroupLayout(const std::string& root) {
  if (PathExists(root + "/cgroup.controllers")) return CgroupLayout::kUnified;
  if (PathExists(root + "/unified/cgroup.controllers")) return CgroupLayout::kHybrid;
  return absl::FailedPreconditionError(
      absl::StrCat("no cgroup v2 hierarchy at ", root, " or ", root, "/unified"));
}

absl::StatusOr<VmCgroup> VmCgroup::Create(const std::string& root, CgroupLayout layout,
                                          const std::string& parent, const std::string& name,
                                          const CgroupLimits& l) {
  if (!ValidName(parent) || !ValidName(name)) {
    return absl::InvalidArgumentError("cgroup parent and name must be plain names");
  }
  VmCgroup cg;
  if (layout == CgroupLayout::kUnified) {
    std::string p = absl::StrCat(root, "/", parent);
    RETURN_IF_ERROR(Mkdir(p));
    // Controllers must be enabled down to the VM's level.
    RETURN_IF_ERROR(Write(root + "/cgroup.subtree_control", "+memory +cpu +pids"));
    RETURN_IF_ERROR(Write(p + "/cgroup.subtree_control", "+memory +cpu +pids"));
    cg.v2_path_ = absl::StrCat(p, "/", name);
    RETURN_IF_ERROR(Mkdir(cg.v2_path_));
    if (l.memory_bytes > 0)
      RETURN_IF_ERROR(Write(cg.v2_path_ + "/memory.max", std::to_string(l.memory_bytes)));
    if (l.cpu_quota_us > 0) {
      RETURN_IF_ERROR(
          Write(cg.v2_path_ + "/cpu.max", absl::StrCat(l.cpu_quota_us, " ", l.cpu_period_us)));
    }
    if (l.pids_max > 0)
      RETURN_IF_ERROR(Write(cg.v2_path_ + "/pids.max", std::to_string(l.pids_max)));
  } else {
    std::string p = absl::StrCat(root, "/unified/", parent);
    RETURN_IF_ERROR(Mkdir(p));
    cg.v2_path_ = absl::StrCat(p, "/", name);
    RETURN_IF_ERROR(Mkdir(cg.v2_path_));
    for (const char* ctl : {"memory", "cpu", "pids"}) {
      std::string dir = absl::StrCat(root, "/", ctl, "/", parent);
      RETURN_IF_ERROR(Mkdir(dir));
      dir += "/" + name;
      RETURN_IF_ERROR(Mkdir(dir));
      cg.v1_paths_.push_back(dir);
    }
    if (l.memory_bytes > 0) {
      RETURN_IF_ERROR(
          Write(cg.v1_paths_[0] + "/memory.limit_in_bytes", std::to_string(l.memory_bytes)));
    }
    if (l.cpu_quota_us > 0) {
      RETURN_IF_ERROR(
          Write(cg.v1_paths_[1] + "/cpu.cfs_period_us", std::to_string(l.cpu_period_us)));
      RETURN_IF_ERROR(Write(cg.v1_paths_[1] + "/cpu.cfs_quota_us", std::to_string(l.cpu_quota_us)));
    }
    if (l.pids_max > 0)
      RETURN_IF_ERROR(Write(cg.v1_paths_[2] + "/pids.max", std::to_string(l.pids_max)));
  }
  cg.id_ = Inode(cg.v2_path_);
  return cg;
}

absl::StatusOr<VmCgroup> VmCgroup::Open(const std::string& root, CgroupLayout layout,
                                        const std::string& parent, const std::string& name) {
  VmCgroup cg;
  if (layout == CgroupLayout::kUnified) {
    cg.v2_path_ = absl::StrCat(root, "/", parent, "/", name);
  } else {
    cg.v2_path_ = absl::StrCat(root, "/unified/", parent, "/", name);
    for (const char* ctl : {"memory", "cpu", "pids"}) {
      cg.v1_paths_.push_back(absl::StrCat(root, "/", ctl, "/", parent, "/", name));
    }
  }
  if (!PathExists(cg.v2_path_)) return absl::NotFoundError(absl::StrCat("no cgroup ", cg.v2_path_));
  cg.id_ = Inode(cg.v2_path_);
  return cg;
}

absl::Status VmCgroup::AddProcess(pid_t pid) const {
  RETURN_IF_ERROR(Write(v2_path_ + "/cgroup.procs", std::to_string(pid)));
  for (const std::string& p : v1_paths_)
    RETURN_IF_ERROR(Write(p + "/cgroup.procs", std::to_string(pid)));
  return absl::OkStatus();
}

std::vector<std::string> VmCgroup::ProcsFiles() const {
  std::vector<std::string> out = {v2_path_ + "/cgroup.procs"};
  for (const std::string& p : v1_paths_) out.push_back(p + "/cgroup.procs");
  return out;
}

std::vector<pid_t> VmCgroup::Processes() const {
  std::vector<pid_t> out;
  std::ifstream f(v2_path_ + "/cgroup.procs");
  pid_t p;
  while (f >> p) out.push_back(p);
  return out;
}

absl::Status VmCgroup::Destroy() const {
  for (int round = 0; round < 50; ++round) {
    auto procs = Processes();
    if (procs.empty()) break;
    for (pid_t p : procs) ::kill(p, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // A task that just exited may hold the cgroup busy for a moment (up to a
  // second or two on a loaded 6.18 host).
  auto remove = [](const std::string& p) {
    for (int i = 0; i < 250; ++i) {
      if (::rmdir(p.c_str()) == 0 || errno == ENOENT) return absl::OkStatus();
      if (errno != EBUSY) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return ErrnoStatus(errno, absl::StrCat("removing cgroup ", p));
  };
  absl::Status result = absl::OkStatus();
  for (const std::string& p : v1_paths_) result.Update(remove(p));
  result.Update(remove(v2_path_));
  return result;
}

}  // namespace clawos::launcher
