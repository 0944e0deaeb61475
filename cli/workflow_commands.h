// `clawos workflow submit|list|get|watch|cancel|output`: workflows on
// clawos-orchestrator, over REST through clawos-controlplane (--url) or, with
// --direct, gRPC to the orchestrator (--orchestrator).
#pragma once

#include <CLI/CLI.hpp>

#include "cli/context.h"

namespace clawos::cli {

void AddWorkflowCommands(CLI::App& app, Context& ctx, int& rc);

}  // namespace clawos::cli
