// Targets in <state>/targets.db (SQLite), so a restarted monitor watches the
// same cgroups under the same rows.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/sqlite/db.h"

namespace clawos::monitor {

struct TargetRecord {
  std::string id;  // the target id (not "targets/<id>")
  std::string vm;  // "vms/<id>"
  std::string agent_subject;
  uint64_t cgroup_id = 0;
  std::string cgroup_path;
  uint32_t row = 0;  // the row in the kernel's counts
  absl::Time create_time;
};

class TargetStore {
 public:
  static absl::StatusOr<std::unique_ptr<TargetStore>> Open(const std::string& path);
  // ALREADY_EXISTS for a taken id.
  absl::Status Insert(const TargetRecord& t);
  // NOT_FOUND when absent.
  absl::Status Delete(const std::string& id);
  absl::StatusOr<std::vector<TargetRecord>> List() const;

 private:
  explicit TargetStore(std::unique_ptr<sqlite::Db> db) : db_(std::move(db)) {}
  std::unique_ptr<sqlite::Db> db_;
};

}  // namespace clawos::monitor
