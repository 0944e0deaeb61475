// The monitor's policy (a TOML file): which system calls get detailed
// events, and rules — system calls or programs, per target or for all — that
// raise an event's severity and name the rule; with `enforce = true`, a rule
// whose action is "kill" kills the offender (SIGKILL in the kernel for system
// calls, from user space at exec for programs). docs/monitor.md has the format.
//
//   detail = ["execve", "openat", "connect"]   # replaces the default list
//   enforce = false
//   [[rule]]
//   name = "no-ptrace"
//   syscalls = ["ptrace"]
//   severity = "high"            # info, low, medium, high, critical
//   action = "alert"             # or "kill"
//   targets = ["vm-a"]           # target ids; absent: every target
//   [[rule]]
//   name = "no-shell"
//   binaries = ["/bin/sh", "/usr/bin/bash"]
//   severity = "critical"
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "clawos/monitor/v1/monitor.pb.h"

namespace clawos::monitor {

struct Rule {
  std::string name;
  std::set<int> syscalls;
  std::set<std::string> binaries;
  ::clawos::monitor::v1::Severity severity = ::clawos::monitor::v1::SEVERITY_MEDIUM;
  bool kill = false;
  std::set<std::string> targets;  // empty: every target
  bool Applies(const std::string& target_id) const {
    return targets.empty() || targets.count(target_id) > 0;
  }
};

class Policy {
 public:
  // The built-in policy: the sensitive calls detailed, no rules.
  static Policy Default();
  // INVALID_ARGUMENT naming the origin, line and field of what is wrong.
  static absl::StatusOr<Policy> Parse(std::string_view toml, const std::string& origin);
  static absl::StatusOr<Policy> Load(const std::string& path);

  // CLAWOS_POL_* bits of system call `nr` for a target.
  uint8_t Bits(const std::string& target_id, int nr) const;
  // Sets the event's severity and rule from the first matching rule (the
  // most severe wins when several match); returns true when that rule kills
  // and enforcement is on.
  bool Apply(const std::string& target_id, ::clawos::monitor::v1::Event* event) const;

  const std::set<int>& detail() const { return detail_; }
  bool enforce() const { return enforce_; }
  const std::vector<Rule>& rules() const { return rules_; }

 private:
  std::set<int> detail_;
  bool enforce_ = false;
  std::vector<Rule> rules_;
};

}  // namespace clawos::monitor
