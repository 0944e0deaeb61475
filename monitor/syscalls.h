// x86-64 system call names and numbers, from the kernel headers the build
// machine has (asm/unistd_64.h).
#pragma once

#include <string>
#include <string_view>

namespace clawos::monitor {

// "openat" for 257; "syscall_<nr>" for a number without a name.
std::string SyscallName(int nr);
// -1 for a name this architecture does not have.
int SyscallNumber(std::string_view name);

}  // namespace clawos::monitor
