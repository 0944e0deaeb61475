// Test helper: a loopback port nothing listens on right now (bound to port
// 0, read back, released), for daemons that need a port on their command line.
#pragma once

#include <sys/socket.h>

namespace clawos::testing {

// SOCK_STREAM or SOCK_DGRAM; 0 if the kernel gave none.
int FreeLoopbackPort(int socktype = SOCK_STREAM);

}  // namespace clawos::testing
