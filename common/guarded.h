// Threads that serve a peer (a connection, a stream, a worker) must never
// take the daemon down: an exception that escapes a std::thread calls
// std::terminate, and a std::thread that cannot be created throws. These run
// such work so that neither can happen.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/statusor.h"

namespace clawos {

// Runs `fn`. An exception it throws is caught and logged as an error naming
// `what` (e.g. "http connection"); the answer is then false. Never throws.
bool RunGuarded(std::string_view what, const std::function<void()>& fn) noexcept;

// A thread running `fn` under RunGuarded. RESOURCE_EXHAUSTED, not an
// exception, when the system cannot create one (the caller refuses the work).
absl::StatusOr<std::thread> StartThread(std::string what, std::function<void()> fn);

}  // namespace clawos
