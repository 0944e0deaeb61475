#include "common/testing/test_image.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace clawos::testing {

std::string VmTestSkipReason(std::string* image) {
  const char* img = std::getenv("CLAWOS_TEST_IMAGE");
  if (!img || access((std::string(img) + "/manifest.sig").c_str(), R_OK) != 0) {
    return "SKIPPED: no built and signed guest image (CLAWOS_TEST_IMAGE; ctest builds it)";
  }
  if (geteuid() != 0) return "SKIPPED: needs root for VM cgroups";
  *image = img;
  return "";
}

void RemoveCgroupParent(const std::string& parent, const std::string& root) {
  for (const char* h : {"/unified", "/memory", "/cpu", "/pids", ""}) {
    std::string dir = root + h + "/" + parent;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      if (e.is_directory()) ::rmdir(e.path().c_str());
    }
    ::rmdir(dir.c_str());
  }
}

}  // namespace clawos::testing
