// The guest end of the agent channel: the virtio-serial port the launcher
// names "clawos.agent", found by name under /sys/class/virtio-ports.
#pragma once

#include <string>

namespace clawos::agent {

inline constexpr char kPortName[] = "clawos.agent";

// "/dev/vport0p1" or "" when no port has that name (yet).
std::string FindPort(const std::string& name, const std::string& sysfs = "/sys/class/virtio-ports");

}  // namespace clawos::agent
