// Status helpers over Abseil (Debian's Abseil 20220623 has no status macros).
#pragma once

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

#define CLAWOS_CONCAT_INNER(a, b) a##b
#define CLAWOS_CONCAT(a, b) CLAWOS_CONCAT_INNER(a, b)

// Returns from the enclosing function when `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                        \
  do {                                               \
    ::absl::Status clawos_status_ = (expr);          \
    if (!clawos_status_.ok()) return clawos_status_; \
  } while (0)

// ASSIGN_OR_RETURN(lhs, expr): evaluates the StatusOr `expr`; on error returns its
// status, else assigns (or declares, e.g. `auto x`) `lhs` from its value.
#define ASSIGN_OR_RETURN(lhs, expr) \
  CLAWOS_ASSIGN_OR_RETURN_IMPL(CLAWOS_CONCAT(clawos_statusor_, __LINE__), lhs, expr)
#define CLAWOS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

namespace clawos {

// Prefixes the message of a non-OK status with context: "opening db: <msg>".
inline absl::Status Annotate(const absl::Status& s, std::string_view context) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(std::string(context), ": ", s.message()));
}

}  // namespace clawos
