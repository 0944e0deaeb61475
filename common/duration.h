// Durations as operators write them: "90s", "10m", "1h30m", "7d", "250ms".
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace clawos {

// Accepts absl's forms ("1h30m", "250ms") plus a "d" (24h) unit. Negative → error.
absl::StatusOr<absl::Duration> ParseDuration(std::string_view text);
// "10m", "1h30m", "36h": the shortest form ParseDuration reads back.
std::string FormatDuration(absl::Duration d);

}  // namespace clawos
