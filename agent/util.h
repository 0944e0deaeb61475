// Small helpers the guest agent's parts share (exec, files, the agent loop's tools).
#pragma once

#include <cstdint>
#include <string>

namespace clawos::agent {

// CLOCK_MONOTONIC in milliseconds.
int64_t NowMs();

// The directory part of an absolute path ("/" for "/x").
std::string Parent(const std::string& path);

// mkdir -p: true when `dir` exists afterwards (errno is set when not).
bool MakeParents(const std::string& dir);

// An absolute path naming a file: not empty, not ending in '/', no NUL.
bool ValidPath(const std::string& path);

}  // namespace clawos::agent
