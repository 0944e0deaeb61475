// The tools of `clawos-agent run`'s loop, run inside the guest: `shell`
// (sh -c, bounded output and time), `read_file`, `write_file`. Each returns
// the text the model sees; failures are text too ("error: ..."), so the
// model can react to them.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace clawos::agent {

inline constexpr size_t kMaxToolOutput = 32 * 1024;

// The OpenAI `tools` array describing the three tools.
nlohmann::json ToolSchemas();

struct ToolResult {
  std::string text;
  int exit_code = 0;  // shell: the command's; others: 0 ok, 1 error
};

// Runs tool `name` with its JSON-encoded `arguments`.
ToolResult RunTool(const std::string& name, const std::string& arguments);

}  // namespace clawos::agent
