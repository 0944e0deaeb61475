// libFuzzer target for the monitor's policy (monitor/policy.h): a TOML file
// parsed with toml++ (header-only, so instrumented too).
//
// The input is the policy's text. An exception leaving Policy::Parse is a
// crash (std::terminate). Properties checked beside the sanitizers: an error
// is INVALID_ARGUMENT naming the origin, in valid UTF-8; a policy that parses has system
// calls only within the kernel's table, rules with a name and something to
// match, and strings that are valid UTF-8 (a rule's name becomes the
// `rule` of events, a proto string); Bits and Apply agree with the rules:
// a call is detailed when listed or matched, killed only under enforcement
// by a kill rule that applies, and Apply picks the most severe rule.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/utf8.h"
#include "monitor/bpf_monitor.h"
#include "monitor/policy.h"
#include "test/fuzz/require.h"

namespace {

using namespace clawos::monitor;
namespace pb = ::clawos::monitor::v1;

using clawos::fuzz::Require;

void CheckRules(const Policy& p) {
  for (int nr : p.detail()) Require(nr >= 0 && nr < CLAWOS_MAX_SYSCALLS);
  for (const Rule& r : p.rules()) {
    Require(!r.name.empty() && clawos::IsValidUtf8(r.name));
    Require(!r.syscalls.empty() || !r.binaries.empty());
    Require(r.severity >= pb::SEVERITY_INFO && r.severity <= pb::SEVERITY_CRITICAL);
    for (int nr : r.syscalls) Require(nr >= 0 && nr < CLAWOS_MAX_SYSCALLS);
    for (const auto& b : r.binaries) Require(clawos::IsValidUtf8(b));
    for (const auto& t : r.targets) Require(clawos::IsValidUtf8(t));
  }
}

// Bits and Apply for the calls and programs the rules name, on each target.
void CheckDecisions(const Policy& p) {
  std::vector<std::string> targets = {"", "vm-a"};
  for (const Rule& r : p.rules()) targets.insert(targets.end(), r.targets.begin(), r.targets.end());
  for (const Rule& r : p.rules()) {
    for (const std::string& target : targets) {
      for (int nr : r.syscalls) {
        uint8_t bits = p.Bits(target, nr);
        bool kill = false, applies = false;
        pb::Severity most = pb::SEVERITY_UNSPECIFIED;
        for (const Rule& q : p.rules()) {
          if (!q.syscalls.count(nr) || !q.Applies(target)) continue;
          applies = true;
          kill = kill || q.kill;
          most = std::max(most, q.severity);
        }
        Require(((bits & CLAWOS_POL_DETAIL) != 0) == (applies || p.detail().count(nr) > 0));
        Require(((bits & CLAWOS_POL_KILL) != 0) == (kill && p.enforce()));
        pb::Event e;
        e.set_kind(pb::Event::SYSCALL);
        e.mutable_syscall()->set_nr(nr);
        bool killed = p.Apply(target, &e);
        if (applies) Require(e.severity() == most && !e.rule().empty());
        if (!applies) Require(!killed && e.rule().empty());
        if (killed) Require(p.enforce());
      }
      for (const std::string& binary : r.binaries) {
        pb::Event e;
        e.set_kind(pb::Event::PROCESS_EXEC);
        e.set_filename(binary);
        p.Apply(target, &e);
        if (r.Applies(target)) Require(e.severity() >= r.severity && !e.rule().empty());
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Any bytes: toml++ 3.3.0's undefined whitespace test (a UBSan report) is
  // kept away by monitor/toml_parse.h; regression_tomlpp_unreachable is the
  // input that showed it.
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto policy = Policy::Parse(text, "fuzz.toml");
  if (!policy.ok()) {
    Require(policy.status().code() == absl::StatusCode::kInvalidArgument);
    Require(policy.status().message().rfind("fuzz.toml:", 0) == 0);
    Require(clawos::IsValidUtf8(std::string(policy.status().message())));
    return 0;
  }
  CheckRules(*policy);
  CheckDecisions(*policy);
  return 0;
}
