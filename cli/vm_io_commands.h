// `clawos vm exec|logs|cp`: the streaming commands (exec and logs through
// LauncherApi, cp always over gRPC).
#pragma once

#include <CLI/CLI.hpp>

#include "cli/context.h"

namespace clawos::cli {

void AddVmIoCommands(CLI::App& vm, Context& ctx, int& rc);

}  // namespace clawos::cli
