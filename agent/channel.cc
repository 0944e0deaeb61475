#include "agent/channel.h"

#include <dirent.h>

#include <fstream>

namespace clawos::agent {

std::string FindPort(const std::string& name, const std::string& sysfs) {
  DIR* d = opendir(sysfs.c_str());
  if (!d) return "";
  std::string found;
  while (dirent* e = readdir(d)) {
    std::string port = e->d_name;
    if (port == "." || port == "..") continue;
    std::ifstream f(sysfs + "/" + port + "/name");
    std::string n;
    std::getline(f, n);
    if (n == name) {
      found = "/dev/" + port;
      break;
    }
  }
  closedir(d);
  return found;
}

}  // namespace clawos::agent
