// The bits of the guest system the agent reads or drives: the console, the
// clock, memory and disk figures, mounts, power-off.
#pragma once

#include <cstdint>
#include <string>

namespace clawos::agent {

// Writes "clawos-agent: <line>" to /dev/console (the VM's serial log).
void Console(const std::string& line);
int64_t UptimeMs();
uint64_t MemAvailableBytes();
uint64_t FreeBytes(const std::string& dir);
// The filesystem type mounted at `dir`, or "none".
std::string MountedType(const std::string& dir);
std::string KernelRelease();
// The first line of `path`, or false with the reason in `out`.
bool ReadFirstLine(const std::string& path, std::string* out);
// Sets the clock to `unix_ns` when it is more than a second off.
void SetClock(int64_t unix_ns);
// Sets the loopback interface up; false with the reason.
bool BringUpLoopback(std::string* error);
// Syncs, unmounts the writable disks and powers the VM off.
[[noreturn]] void PowerOff();
// Hex SHA-256 of `data` / of a file (false when unreadable).
bool FileSha256(const std::string& path, std::string* hex);

}  // namespace clawos::agent
