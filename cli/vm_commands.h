// `clawos vm ...` and `clawos image import|list|delete`: the launcher's
// commands through the CLI's one client (api_client.h): REST through
// clawos-controlplane (--url / CLAWOS_URL) or, with --direct, gRPC to
// clawos-vm-launcher (--launcher / CLAWOS_LAUNCHER_ADDR).
#pragma once

#include <CLI/CLI.hpp>

#include "cli/context.h"

namespace clawos::cli {

void AddVmCommands(CLI::App& app, Context& ctx, int& rc);
// Adds import, list and delete under the existing `image` command.
void AddImageLauncherCommands(CLI::App& image, Context& ctx, int& rc);

}  // namespace clawos::cli
