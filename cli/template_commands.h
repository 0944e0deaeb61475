// `clawos image templates [make IMAGE | delete ID]`: the launcher's VM
// templates (docs/vm-launcher.md, "Templates"), listed, made for an image and
// shape, deleted. Always gRPC to clawos-vm-launcher (--launcher): the control
// plane has no route for them yet.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/context.h"

namespace clawos::cli {

void AddTemplateCommands(CLI::App& image, Context& ctx, int& rc);

}  // namespace clawos::cli
