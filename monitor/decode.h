// Turns what the kernel hands over (clawos_event) into the API's Event:
// wall-clock time, the target's names, the system call's name and a short
// printable summary of its arguments (flags, addresses, signal and request
// names decoded; strings quoted and escaped, cut at 256 bytes).
#pragma once

#include <string>
#include <vector>

#include "clawos/monitor/v1/monitor.pb.h"
#include "monitor/bpf_monitor.h"

namespace clawos::monitor {

struct TargetNames {
  std::string target;  // "targets/<id>"
  std::string vm;      // "vms/<id>"
  std::string agent_subject;
};

// `argv` of an event: the NUL-separated area or the fixed slots.
std::vector<std::string> EventArgv(const clawos_event& e);
// `dfd=AT_FDCWD path="/etc/passwd" flags=O_RDONLY|O_CLOEXEC` and the like.
std::string ArgsSummary(const clawos_event& e);
// A string as it goes into a summary: "..." with \", \\, \n, \t and \xNN escapes.
std::string Quote(std::string_view s);

::clawos::monitor::v1::Event Decode(const clawos_event& e, const TargetNames& names);

}  // namespace clawos::monitor
