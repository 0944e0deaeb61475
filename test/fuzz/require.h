// Require(cond): a fuzz target's property check. A property that does not
// hold is a finding: the failing line goes to stderr, then abort() (which
// libFuzzer reports as a crash, keeping the input).
#pragma once

#include <cstdio>
#include <cstdlib>

namespace clawos::fuzz {

// (clang 14 with libstdc++ 12 has no std::source_location; the builtins
// it stands on work as default arguments.)
inline void Require(bool ok, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  if (ok) return;
  std::fprintf(stderr, "property failed at %s:%d\n", file, line);
  std::abort();
}

}  // namespace clawos::fuzz
