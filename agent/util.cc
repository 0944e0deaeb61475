#include "agent/util.h"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

namespace clawos::agent {

int64_t NowMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

std::string Parent(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

bool MakeParents(const std::string& dir) {
  if (dir == "/" || ::access(dir.c_str(), F_OK) == 0) return true;
  if (!MakeParents(Parent(dir))) return false;
  return ::mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST;
}

bool ValidPath(const std::string& path) {
  return !path.empty() && path[0] == '/' && path.back() != '/' &&
         path.find('\0') == std::string::npos;
}

}  // namespace clawos::agent
