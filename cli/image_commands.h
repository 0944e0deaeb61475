// `clawos image ...`: build, dm-verity, keys, signing and verification of
// guest images. These run locally; no daemon is involved.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/context.h"

namespace clawos::cli {

void AddImageCommands(CLI::App& app, Context& ctx, int& rc);

}  // namespace clawos::cli
