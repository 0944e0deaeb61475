// Test helper: raw bytes to a server on 127.0.0.1 and everything it answers
// until it closes (at most 30 s), for requests no HTTP client would send
// (invalid UTF-8, a request trickled in with a pause).
#pragma once

#include <string>

#include "absl/time/time.h"

namespace clawos::testing {

// Sends `bytes`; with a `pause`, waits that long and sends `more` too.
std::string RawExchange(int port, const std::string& bytes, absl::Duration pause = {},
                        const std::string& more = "");

}  // namespace clawos::testing
