#include "monitor/policy.h"

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "monitor/bpf_monitor.h"
#include "monitor/syscalls.h"
#include "monitor/toml_parse.h"

namespace clawos::monitor {
namespace {

namespace pb = ::clawos::monitor::v1;

const char* const kDefaultDetail[] = {"execve",
                                      "execveat",
                                      "open",
                                      "openat",
                                      "openat2",
                                      "connect",
                                      "ptrace",
                                      "mount",
                                      "umount2",
                                      "bpf",
                                      "init_module",
                                      "finit_module",
                                      "setuid",
                                      "setgid",
                                      "setreuid",
                                      "setregid",
                                      "setresuid",
                                      "setresgid",
                                      "kill",
                                      "tkill",
                                      "tgkill",
                                      "process_vm_readv",
                                      "process_vm_writev"};

absl::Status Bad(const std::string& origin, const toml::source_region& where,
                 const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(origin, ":", where.begin.line, ": ", what));
}

// A list of strings at `key` (absent: empty).
absl::StatusOr<std::vector<std::string>> Strings(const toml::table& t, std::string_view key,
                                                 const std::string& origin) {
  std::vector<std::string> out;
  const toml::node* n = t.get(key);
  if (!n) return out;
  const toml::array* a = n->as_array();
  if (!a)
    return Bad(origin, n->source(),
               absl::StrCat("\"", std::string(key), "\" must be a list of strings"));
  for (const auto& v : *a) {
    auto s = v.value<std::string>();
    if (!s)
      return Bad(origin, v.source(), absl::StrCat("\"", std::string(key), "\" must hold strings"));
    out.push_back(*s);
  }
  return out;
}

absl::StatusOr<std::set<int>> Syscalls(const toml::table& t, std::string_view key,
                                       const std::string& origin) {
  auto names = Strings(t, key, origin);
  if (!names.ok()) return names.status();
  std::set<int> out;
  for (const auto& n : *names) {
    int nr = SyscallNumber(n);
    if (nr < 0 || nr >= CLAWOS_MAX_SYSCALLS) {
      return Bad(origin, t.get(key)->source(),
                 absl::StrCat("\"", n, "\" is not an x86-64 system call"));
    }
    out.insert(nr);
  }
  return out;
}

absl::StatusOr<pb::Severity> ParseSeverity(const std::string& s) {
  if (s == "info") return pb::SEVERITY_INFO;
  if (s == "low") return pb::SEVERITY_LOW;
  if (s == "medium") return pb::SEVERITY_MEDIUM;
  if (s == "high") return pb::SEVERITY_HIGH;
  if (s == "critical") return pb::SEVERITY_CRITICAL;
  return absl::InvalidArgumentError(s);
}

}  // namespace

Policy Policy::Default() {
  Policy p;
  for (const char* name : kDefaultDetail) {
    int nr = SyscallNumber(name);
    if (nr >= 0) p.detail_.insert(nr);
  }
  return p;
}

absl::StatusOr<Policy> Policy::Parse(std::string_view text, const std::string& origin) {
  auto parsed = ParseToml(text, origin);  // not toml::parse: see toml_parse.h
  if (!parsed.ok()) return parsed.status();
  const toml::table& root = *parsed;
  Policy p = Default();
  for (const auto& [key, node] : root) {
    if (key != "detail" && key != "enforce" && key != "rule") {
      return Bad(origin, node.source(),
                 absl::StrCat("unknown setting \"", std::string(key.str()), "\""));
    }
  }
  if (root.contains("detail")) {
    auto d = Syscalls(root, "detail", origin);
    if (!d.ok()) return d.status();
    p.detail_ = *d;
  }
  if (const toml::node* n = root.get("enforce")) {
    auto b = n->value<bool>();
    if (!b) return Bad(origin, n->source(), "\"enforce\" must be true or false");
    p.enforce_ = *b;
  }
  if (const toml::node* n = root.get("rule")) {
    const toml::array* rules = n->as_array();
    if (!rules) return Bad(origin, n->source(), "\"rule\" must be [[rule]] tables");
    for (const auto& rn : *rules) {
      const toml::table* t = rn.as_table();
      if (!t) return Bad(origin, rn.source(), "\"rule\" must be [[rule]] tables");
      Rule r;
      for (const auto& [key, node] : *t) {
        static const std::set<std::string> kKeys = {"name",     "syscalls", "binaries",
                                                    "severity", "action",   "targets"};
        if (!kKeys.count(std::string(key.str()))) {
          return Bad(origin, node.source(),
                     absl::StrCat("unknown rule field \"", std::string(key.str()), "\""));
        }
      }
      auto name = (*t)["name"].value<std::string>();
      if (!name || name->empty()) return Bad(origin, t->source(), "a rule needs a \"name\"");
      r.name = *name;
      auto sys = Syscalls(*t, "syscalls", origin);
      if (!sys.ok()) return sys.status();
      r.syscalls = *sys;
      auto bins = Strings(*t, "binaries", origin);
      if (!bins.ok()) return bins.status();
      r.binaries = {bins->begin(), bins->end()};
      if (r.syscalls.empty() && r.binaries.empty()) {
        return Bad(origin, t->source(),
                   absl::StrCat("rule \"", r.name, "\" needs \"syscalls\" or \"binaries\""));
      }
      if (const toml::node* sn = t->get("severity")) {
        auto sev = ParseSeverity(sn->value<std::string>().value_or(""));
        if (!sev.ok()) {
          return Bad(origin, sn->source(),
                     "\"severity\" is one of info, low, medium, high, critical");
        }
        r.severity = *sev;
      }
      if (const toml::node* an = t->get("action")) {
        std::string action = an->value<std::string>().value_or("");
        if (action != "alert" && action != "kill") {
          return Bad(origin, an->source(), "\"action\" is \"alert\" or \"kill\"");
        }
        r.kill = action == "kill";
      }
      auto targets = Strings(*t, "targets", origin);
      if (!targets.ok()) return targets.status();
      r.targets = {targets->begin(), targets->end()};
      p.rules_.push_back(std::move(r));
    }
  }
  return p;
}

absl::StatusOr<Policy> Policy::Load(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  return Parse(*text, path);
}

uint8_t Policy::Bits(const std::string& target_id, int nr) const {
  uint8_t bits = detail_.count(nr) ? CLAWOS_POL_DETAIL : 0;
  for (const auto& r : rules_) {
    if (!r.syscalls.count(nr) || !r.Applies(target_id)) continue;
    bits |= CLAWOS_POL_DETAIL;
    if (r.kill && enforce_) bits |= CLAWOS_POL_KILL;
  }
  return bits;
}

bool Policy::Apply(const std::string& target_id, pb::Event* e) const {
  const Rule* best = nullptr;
  for (const auto& r : rules_) {
    if (!r.Applies(target_id)) continue;
    // Programs match on the path of an exec: the process event, and the
    // execve/execveat call itself (decoded with the same filename).
    bool exec = e->kind() == pb::Event::PROCESS_EXEC || !e->filename().empty();
    bool match = (e->kind() == pb::Event::SYSCALL && r.syscalls.count(e->syscall().nr()) > 0) ||
                 (exec && r.binaries.count(e->filename()) > 0);
    if (match && (!best || r.severity > best->severity)) best = &r;
  }
  if (!best) return false;
  e->set_severity(best->severity);
  e->set_rule(best->name);
  return best->kill && enforce_;
}

}  // namespace clawos::monitor
