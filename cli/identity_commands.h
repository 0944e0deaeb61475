// `clawos token ...` and `clawos secret ...`: the identity daemon's commands.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/context.h"

namespace clawos::cli {

// Registers the subcommands; `rc` receives the exit code of the one that ran.
void AddTokenCommands(CLI::App& app, Context& ctx, int& rc);
void AddSecretCommands(CLI::App& app, Context& ctx, int& rc);

}  // namespace clawos::cli
