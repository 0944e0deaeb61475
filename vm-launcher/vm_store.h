// The launcher's VMs in SQLite (launcher.db under the state directory), so
// they survive restarts and `kill -9`.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/sqlite/db.h"
#include "vm-launcher/vm.h"

namespace clawos::launcher {

class VmStore {
 public:
  static absl::StatusOr<std::unique_ptr<VmStore>> Open(const std::string& path, const Clock& clock);

  // ALREADY_EXISTS when the name is taken.
  absl::Status Insert(const Vm& vm);
  absl::StatusOr<Vm> Get(const std::string& name) const;
  std::vector<Vm> List() const;
  // Replaces the VM's record (state, reason, pid, cgroup); NOT_FOUND if absent.
  absl::Status Update(const Vm& vm);
  absl::Status Delete(const std::string& name);

 private:
  VmStore(std::unique_ptr<sqlite::Db> db, const Clock& clock) : db_(std::move(db)), clock_(clock) {}
  std::unique_ptr<sqlite::Db> db_;
  const Clock& clock_;
};

}  // namespace clawos::launcher
