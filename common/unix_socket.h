// Connecting to a unix stream socket: one attempt, callers own retries.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace clawos {

// A connected, close-on-exec fd. INVALID_ARGUMENT when the path does not fit
// sockaddr_un (never silently truncated); otherwise the errno as a status
// (NOT_FOUND while the socket file does not exist yet).
absl::StatusOr<int> ConnectUnixSocket(const std::string& path);

}  // namespace clawos
