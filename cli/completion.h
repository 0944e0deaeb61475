// `clawos completion bash`: a bash completion script made from the command
// tree itself (subcommands and options at every level), so it never drifts.
#pragma once

#include <CLI/CLI.hpp>

namespace clawos::cli {

void AddCompletionCommand(CLI::App& app);

}  // namespace clawos::cli
