#include "vm-launcher/vm_store.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace clawos::launcher {
namespace {

const std::vector<sqlite::Migration>& Migrations() {
  static const std::vector<sqlite::Migration> m = {{1, R"sql(
CREATE TABLE vms(
  name           TEXT PRIMARY KEY,
  spec           TEXT NOT NULL,     -- JSON of VmSpec
  state          TEXT NOT NULL,
  reason         TEXT NOT NULL,
  pid            INTEGER NOT NULL,
  pid_start_time INTEGER NOT NULL,
  cgroup_id      INTEGER NOT NULL,
  create_time    INTEGER NOT NULL,
  update_time    INTEGER NOT NULL
);
)sql"},
                                                   {2, R"sql(
ALTER TABLE vms ADD COLUMN runtime TEXT NOT NULL DEFAULT '{}';  -- JSON: agent, times
)sql"}};
  return m;
}

std::string SpecJson(const VmSpec& s) {
  return nlohmann::json{{"name", s.name},
                        {"image", s.image},
                        {"vcpus", s.vcpus},
                        {"memory_mib", s.memory_mib},
                        {"runtime_disk_mib", s.runtime_disk_mib},
                        {"workspace_disk_mib", s.workspace_disk_mib},
                        {"network", s.network},
                        {"env", s.env},
                        {"labels", s.labels},
                        {"model", s.model}}
      .dump();
}

int64_t Millis(absl::Time t) { return t == absl::InfinitePast() ? 0 : absl::ToUnixMillis(t); }
absl::Time FromMillis(int64_t ms) {
  return ms == 0 ? absl::InfinitePast() : absl::FromUnixMillis(ms);
}

std::string RuntimeJson(const Vm& vm) {
  return nlohmann::json{
      {"agent_version", vm.agent_version}, {"failure", static_cast<int>(vm.failure)},
      {"net_slot", vm.net_slot},           {"start_ms", Millis(vm.start_time)},
      {"jail_uid", vm.jail_uid},           {"ready_ms", Millis(vm.ready_time)},
      {"stop_ms", Millis(vm.stop_time)},   {"template", vm.template_id}}
      .dump();
}

absl::StatusOr<Vm> FromRow(const sqlite::Statement& st) {
  Vm vm;
  auto j = nlohmann::json::parse(st.Text(1), nullptr, false);
  if (j.is_discarded())
    return absl::DataLossError(absl::StrCat("VM ", st.Text(0), ": bad spec record"));
  vm.spec.name = st.Text(0);
  vm.spec.image = j.value("image", "");
  vm.spec.vcpus = j.value("vcpus", 1);
  vm.spec.memory_mib = j.value("memory_mib", 256);
  vm.spec.runtime_disk_mib = j.value("runtime_disk_mib", int64_t{256});
  vm.spec.workspace_disk_mib = j.value("workspace_disk_mib", int64_t{1024});
  vm.spec.network = j.value("network", "none");
  vm.spec.env = j.value("env", std::map<std::string, std::string>{});
  vm.spec.model = j.value("model", "");
  vm.spec.labels = j.value("labels", std::map<std::string, std::string>{});
  if (!ParseVmState(st.Text(2), &vm.state)) {
    return absl::DataLossError(absl::StrCat("VM ", vm.spec.name, ": unknown state ", st.Text(2)));
  }
  vm.reason = st.Text(3);
  vm.pid = st.Int(4);
  vm.pid_start_time = static_cast<uint64_t>(st.Int(5));
  vm.cgroup_id = static_cast<uint64_t>(st.Int(6));
  vm.create_time = absl::FromUnixMillis(st.Int(7));
  vm.update_time = absl::FromUnixMillis(st.Int(8));
  auto r = nlohmann::json::parse(st.Text(9), nullptr, false);
  if (r.is_object()) {
    vm.agent_version = r.value("agent_version", "");
    vm.failure = static_cast<FailureKind>(r.value("failure", 0));
    vm.net_slot = r.value("net_slot", -1);
    vm.jail_uid = r.value("jail_uid", uint32_t{0});
    vm.template_id = r.value("template", std::string());
    vm.start_time = FromMillis(r.value("start_ms", int64_t{0}));
    vm.ready_time = FromMillis(r.value("ready_ms", int64_t{0}));
    vm.stop_time = FromMillis(r.value("stop_ms", int64_t{0}));
  }
  return vm;
}

constexpr char kColumns[] =
    "name, spec, state, reason, pid, pid_start_time, cgroup_id, create_time, update_time, "
    "runtime";

}  // namespace

absl::StatusOr<std::unique_ptr<VmStore>> VmStore::Open(const std::string& path,
                                                       const Clock& clock) {
  ASSIGN_OR_RETURN(auto db, sqlite::Db::Open(path, Migrations()));
  return std::unique_ptr<VmStore>(new VmStore(std::move(db), clock));
}

absl::Status VmStore::Insert(const Vm& vm) {
  std::lock_guard lock(db_->mutex());
  int64_t now = absl::ToUnixMillis(clock_.Now());
  ASSIGN_OR_RETURN(auto st, db_->Prepare(absl::StrCat("INSERT INTO vms(", kColumns,
                                                      ") VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")));
  st.Bind(1, vm.spec.name)
      .Bind(2, SpecJson(vm.spec))
      .Bind(3, VmStateName(vm.state))
      .Bind(4, vm.reason);
  st.Bind(5, vm.pid).Bind(6, static_cast<int64_t>(vm.pid_start_time));
  st.Bind(7, static_cast<int64_t>(vm.cgroup_id))
      .Bind(8, now)
      .Bind(9, now)
      .Bind(10, RuntimeJson(vm));
  auto s = st.Run();
  if (s.code() == absl::StatusCode::kAlreadyExists) {
    return absl::AlreadyExistsError(absl::StrCat("VM ", vm.spec.name, " already exists"));
  }
  return s;
}

absl::StatusOr<Vm> VmStore::Get(const std::string& name) const {
  std::lock_guard lock(db_->mutex());
  ASSIGN_OR_RETURN(auto st,
                   db_->Prepare(absl::StrCat("SELECT ", kColumns, " FROM vms WHERE name = ?")));
  st.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("no VM named ", name));
  return FromRow(st);
}

std::vector<Vm> VmStore::List() const {
  std::lock_guard lock(db_->mutex());
  std::vector<Vm> out;
  auto st = db_->Prepare(absl::StrCat("SELECT ", kColumns, " FROM vms ORDER BY name"));
  if (!st.ok()) return out;
  while (st->Step().value_or(false)) {
    auto vm = FromRow(*st);
    if (vm.ok()) out.push_back(std::move(*vm));
  }
  return out;
}

absl::Status VmStore::Update(const Vm& vm) {
  std::lock_guard lock(db_->mutex());
  ASSIGN_OR_RETURN(auto st, db_->Prepare("UPDATE vms SET spec = ?, state = ?, reason = ?, pid = ?, "
                                         "pid_start_time = ?, cgroup_id = ?, update_time = ?, "
                                         "runtime = ? WHERE name = ?"));
  st.Bind(1, SpecJson(vm.spec)).Bind(2, VmStateName(vm.state)).Bind(3, vm.reason).Bind(4, vm.pid);
  st.Bind(5, static_cast<int64_t>(vm.pid_start_time)).Bind(6, static_cast<int64_t>(vm.cgroup_id));
  st.Bind(7, absl::ToUnixMillis(clock_.Now())).Bind(8, RuntimeJson(vm)).Bind(9, vm.spec.name);
  RETURN_IF_ERROR(st.Run());
  if (db_->Changes() == 0) return absl::NotFoundError(absl::StrCat("no VM named ", vm.spec.name));
  return absl::OkStatus();
}

absl::Status VmStore::Delete(const std::string& name) {
  std::lock_guard lock(db_->mutex());
  ASSIGN_OR_RETURN(auto st, db_->Prepare("DELETE FROM vms WHERE name = ?"));
  st.Bind(1, name);
  RETURN_IF_ERROR(st.Run());
  if (db_->Changes() == 0) return absl::NotFoundError(absl::StrCat("no VM named ", name));
  return absl::OkStatus();
}

}  // namespace clawos::launcher
