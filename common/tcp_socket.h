// A TCP client connection (IPv4/IPv6, names resolved), for the daemons'
// plain-HTTP upstream calls.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace clawos {

// A connected, blocking socket (close-on-exec) with send/receive timeouts of
// `io_timeout`; UNAVAILABLE naming the address when nothing answers.
absl::StatusOr<int> ConnectTcp(const std::string& host, int port, absl::Duration io_timeout);

}  // namespace clawos
