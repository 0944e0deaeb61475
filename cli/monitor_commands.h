// `clawos monitor targets|target add|target delete|tail|stats|sinks`: the
// eBPF monitor's API (--monitor / CLAWOS_MONITOR_ADDR).
#pragma once

#include <CLI/CLI.hpp>

#include "cli/context.h"

namespace clawos::cli {

void AddMonitorCommands(CLI::App& app, Context& ctx, int& rc);

}  // namespace clawos::cli
