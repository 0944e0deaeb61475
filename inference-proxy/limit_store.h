// Limits set through the admin API, in SQLite (<state>/limits.db), so they
// survive restarts: the default's values and each subject's own overrides.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/sqlite/db.h"
#include "inference-proxy/limiter.h"

namespace clawos::proxy {

inline constexpr char kDefaultSubject[] = "default";

class LimitStore {
 public:
  static absl::StatusOr<std::unique_ptr<LimitStore>> Open(const std::string& path);
  // Every stored override, "default" included when it was ever set.
  absl::StatusOr<std::map<std::string, LimitOverride>> Load() const;
  absl::Status Put(const std::string& subject, const LimitOverride& o);
  // NOT_FOUND when absent.
  absl::Status Delete(const std::string& subject);
  // Applies everything stored to `limiter` (at start).
  absl::Status ApplyTo(Limiter& limiter) const;

 private:
  explicit LimitStore(std::unique_ptr<sqlite::Db> db) : db_(std::move(db)) {}
  std::unique_ptr<sqlite::Db> db_;
};

// The default's values with an override's set fields on top.
LimitValues Merge(LimitValues base, const LimitOverride& o);

}  // namespace clawos::proxy
