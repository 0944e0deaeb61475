// `clawos up`, `clawos down`, `clawos status` and `clawos doctor`: the
// embedded default stack on this host (cli/stack.h) and its preflight checks.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/context.h"

namespace clawos::cli {

void AddStackCommands(CLI::App& app, Context& ctx, int& rc);

}  // namespace clawos::cli
