#include "monitor/syscalls.h"

#include <map>
#include <utility>

namespace clawos::monitor {
namespace {

struct Entry {
  int nr;
  const char* name;
};

const Entry kSyscalls[] = {
#include "syscall_names.inc"
};

const std::map<int, std::string_view>& ByNumber() {
  static const auto* m = [] {
    auto* r = new std::map<int, std::string_view>;
    for (const auto& e : kSyscalls) r->emplace(e.nr, e.name);
    return r;
  }();
  return *m;
}

const std::map<std::string_view, int>& ByName() {
  static const auto* m = [] {
    auto* r = new std::map<std::string_view, int>;
    for (const auto& e : kSyscalls) r->emplace(e.name, e.nr);
    return r;
  }();
  return *m;
}

}  // namespace

std::string SyscallName(int nr) {
  auto it = ByNumber().find(nr);
  return it == ByNumber().end() ? "syscall_" + std::to_string(nr) : std::string(it->second);
}

int SyscallNumber(std::string_view name) {
  auto it = ByName().find(name);
  return it == ByName().end() ? -1 : it->second;
}

}  // namespace clawos::monitor
