#include "monitor/target_store.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace clawos::monitor {
namespace {

const std::vector<sqlite::Migration>& Migrations() {
  static const std::vector<sqlite::Migration> m = {{1, R"sql(
CREATE TABLE targets(
  id             TEXT PRIMARY KEY,
  vm             TEXT NOT NULL,
  agent_subject  TEXT NOT NULL,
  cgroup_id      INTEGER NOT NULL,
  cgroup_path    TEXT NOT NULL,
  row_index      INTEGER NOT NULL UNIQUE,
  create_time_us INTEGER NOT NULL
);
)sql"}};
  return m;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TargetStore>> TargetStore::Open(const std::string& path) {
  ASSIGN_OR_RETURN(auto db, sqlite::Db::Open(path, Migrations()));
  return std::unique_ptr<TargetStore>(new TargetStore(std::move(db)));
}

absl::Status TargetStore::Insert(const TargetRecord& t) {
  std::lock_guard lock(db_->mutex());
  ASSIGN_OR_RETURN(auto st, db_->Prepare("INSERT INTO targets(id, vm, agent_subject, cgroup_id, "
                                         "cgroup_path, row_index, create_time_us) "
                                         "VALUES(?,?,?,?,?,?,?)"));
  st.Bind(1, t.id).Bind(2, t.vm).Bind(3, t.agent_subject);
  st.Bind(4, static_cast<int64_t>(t.cgroup_id)).Bind(5, t.cgroup_path);
  st.Bind(6, static_cast<int64_t>(t.row)).Bind(7, absl::ToUnixMicros(t.create_time));
  auto s = st.Run();
  if (s.code() == absl::StatusCode::kAlreadyExists) {
    return absl::AlreadyExistsError(absl::StrCat("target ", t.id, " exists"));
  }
  return s;
}

absl::Status TargetStore::Delete(const std::string& id) {
  std::lock_guard lock(db_->mutex());
  ASSIGN_OR_RETURN(auto st, db_->Prepare("DELETE FROM targets WHERE id = ?"));
  st.Bind(1, id);
  RETURN_IF_ERROR(st.Run());
  if (db_->Changes() == 0) return absl::NotFoundError(absl::StrCat("no target ", id));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<TargetRecord>> TargetStore::List() const {
  std::lock_guard lock(db_->mutex());
  ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT id, vm, agent_subject, cgroup_id, cgroup_path, "
                                         "row_index, create_time_us FROM targets ORDER BY id"));
  std::vector<TargetRecord> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    TargetRecord t;
    t.id = st.Text(0);
    t.vm = st.Text(1);
    t.agent_subject = st.Text(2);
    t.cgroup_id = static_cast<uint64_t>(st.Int(3));
    t.cgroup_path = st.Text(4);
    t.row = static_cast<uint32_t>(st.Int(5));
    t.create_time = absl::FromUnixMicros(st.Int(6));
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace clawos::monitor
