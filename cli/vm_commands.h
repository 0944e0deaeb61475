// `clawos vm ...` and `clawos image import|list|delete`: the launcher's
// commands, over REST through clawos-controlplane (--url / CLAWOS_URL) or,
// with --direct, over gRPC to clawos-vm-launcher (--launcher /
// CLAWOS_LAUNCHER_ADDR). `vm cp` and `image delete` have no REST route and
// always use gRPC.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/context.h"

namespace clawos::cli {

void AddVmCommands(CLI::App& app, Context& ctx, int& rc);
// Adds import, list and delete under the existing `image` command.
void AddImageLauncherCommands(CLI::App& image, Context& ctx, int& rc);

}  // namespace clawos::cli
