// Test helper: a loopback port nothing listens on right now (bound to port
// 0, read back, released), for daemons that need a port on their command line.
#pragma once

#include <sys/socket.h>

namespace clawos::testing {

// SOCK_STREAM or SOCK_DGRAM; 0 if the kernel gave none.
int FreeLoopbackPort(int socktype = SOCK_STREAM);

// A port for a control plane such that `clawos up`'s nginx ports at the same
// offset from 8080 (port + 1 and port + 363: 8081 and 8443 for 8080) are
// free too; 0 if none was found.
int FreeStackPort();

}  // namespace clawos::testing
