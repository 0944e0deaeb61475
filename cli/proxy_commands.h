// `clawos proxy limits|usage|audit`: the inference proxy's admin API
// (--proxy-admin / CLAWOS_PROXY_ADMIN_ADDR).
#pragma once

#include <CLI/CLI.hpp>

#include "cli/context.h"

namespace clawos::cli {

void AddProxyCommands(CLI::App& app, Context& ctx, int& rc);

}  // namespace clawos::cli
