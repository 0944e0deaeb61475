// A scratch directory for fuzz targets that need files: <base>/<name>.<pid>
// on tmpfs (/dev/shm) where possible, since the code under test may fsync.
// It is emptied and removed at a normal exit; a crash leaves it, so the next
// run first removes those of processes that are gone. Holds plain files only.
#pragma once

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <sys/stat.h>
#include <cerrno>
#include <cstdlib>
#include <string>

namespace clawos::fuzz {

// Removes the plain files in `dir`, then `dir`.
inline void RemoveScratch(const std::string& dir) {
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") unlink((dir + "/" + n).c_str());
    }
    closedir(d);
  }
  rmdir(dir.c_str());
}

inline std::string ScratchDir(const std::string& name) {
  const std::string base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  if (DIR* d = opendir(base.c_str())) {  // left by crashed runs
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.rfind(name + ".", 0) != 0) continue;
      pid_t pid = static_cast<pid_t>(std::atol(n.c_str() + name.size() + 1));
      if (pid > 0 && kill(pid, 0) != 0 && errno == ESRCH) RemoveScratch(base + "/" + n);
    }
    closedir(d);
  }
  std::string dir = base + "/" + name + "." + std::to_string(getpid());
  RemoveScratch(dir);
  if (mkdir(dir.c_str(), 0700) != 0) std::abort();
  return dir;
}

}  // namespace clawos::fuzz
