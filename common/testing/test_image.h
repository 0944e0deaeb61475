// Test helper: the guest image ctest builds once (CLAWOS_TEST_IMAGE), and
// whether a VM test can run here at all.
#pragma once

#include <string>

namespace clawos::testing {

// "" when the built and signed test image is there and this runs as root
// (VM cgroups), with `*image` set; else the "SKIPPED: ..." reason.
std::string VmTestSkipReason(std::string* image);

// Removes <root><h>/<parent> and the directories in it, for every hierarchy
// h (v2, hybrid v2 at /unified, v1 memory/cpu/pids): what VM tests leave.
void RemoveCgroupParent(const std::string& parent, const std::string& root = "/sys/fs/cgroup");

}  // namespace clawos::testing
