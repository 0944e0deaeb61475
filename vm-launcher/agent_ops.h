// Exec and file transfer over the agent channel, as the launcher's service
// uses them: the caller supplies and consumes the bytes through callbacks, so
// the same code serves a gRPC stream, the CLI and the tests.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "vm-launcher/agent_client.h"

namespace clawos::launcher {

struct ExecCallbacks {
  // Each returns false to cancel the command (the caller went away).
  std::function<bool(int32_t pid)> on_started;
  std::function<bool(const std::string& data, bool is_stderr)> on_output;
  // Asked twice a second while the command is silent; true cancels it.
  std::function<bool()> cancelled;
};

// Runs `request` (stdin given whole; empty means /dev/null) and returns its
// exit. A command that cannot start is the guest's INVALID_ARGUMENT.
absl::StatusOr<apb::ExecExit> RunExec(AgentClient& agent, apb::ExecRequest request,
                                      const std::string& stdin_data, const ExecCallbacks& cb,
                                      absl::Time deadline);

// Runs `argv` without stdin and collects its whole output (small commands:
// tests, probes).
struct ExecOutput {
  apb::ExecExit exit;
  std::string out;
  std::string err;
};
absl::StatusOr<ExecOutput> ExecCollect(AgentClient& agent, const std::vector<std::string>& argv,
                                       absl::Time deadline);

// Writes a file: `next` fills the next piece of content (at most
// agent::kMaxChunkBytes) and sets `eof` on the last one.
using ChunkSource = std::function<absl::Status(std::string* data, bool* eof)>;
absl::StatusOr<apb::FileInfo> PutFile(AgentClient& agent, const apb::FilePut& put,
                                      const ChunkSource& next, absl::Time deadline);

// Reads a file: `on_info` once, then `on_data` per chunk; either returns
// false to stop early (CANCELLED).
absl::Status GetFile(AgentClient& agent, const std::string& path,
                     const std::function<bool(const apb::FileInfo&)>& on_info,
                     const std::function<bool(const std::string&)>& on_data, absl::Time deadline);

}  // namespace clawos::launcher
