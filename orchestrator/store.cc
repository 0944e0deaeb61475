#include "orchestrator/store.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/status.h"

namespace clawos::orchestrator {
namespace {

const std::vector<sqlite::Migration>& Migrations() {
  static const std::vector<sqlite::Migration> m = {{1, R"sql(
CREATE TABLE workflows(
  id           TEXT PRIMARY KEY,
  seq          INTEGER NOT NULL UNIQUE,
  spec         TEXT NOT NULL,
  source       TEXT NOT NULL,
  display_name TEXT NOT NULL,
  agents       TEXT NOT NULL,  -- the spec's agent names, in order, comma-separated
  state        INTEGER NOT NULL,
  error        TEXT NOT NULL,
  create_us    INTEGER NOT NULL,
  start_us     INTEGER NOT NULL,
  end_us       INTEGER NOT NULL
);
CREATE INDEX workflows_state ON workflows(state, seq);
CREATE TABLE steps(
  workflow_id  TEXT NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
  step_id      TEXT NOT NULL,
  idx          INTEGER NOT NULL,
  agent        TEXT NOT NULL,
  state        INTEGER NOT NULL,
  attempts     INTEGER NOT NULL,
  exit_code    INTEGER,
  error        TEXT NOT NULL,
  vm           TEXT NOT NULL,
  fallback_for TEXT NOT NULL,
  start_us     INTEGER NOT NULL,
  end_us       INTEGER NOT NULL,
  retry_at_us  INTEGER NOT NULL,
  PRIMARY KEY(workflow_id, step_id)
);
CREATE TABLE attempts(
  workflow_id TEXT NOT NULL,
  step_id     TEXT NOT NULL,
  attempt     INTEGER NOT NULL,
  vm          TEXT NOT NULL,
  finished    INTEGER NOT NULL,
  exit_code   INTEGER,
  error       TEXT NOT NULL,
  start_us    INTEGER NOT NULL,
  end_us      INTEGER NOT NULL,
  PRIMARY KEY(workflow_id, step_id, attempt),
  FOREIGN KEY(workflow_id, step_id) REFERENCES steps(workflow_id, step_id) ON DELETE CASCADE
);
CREATE TABLE outputs(
  workflow_id      TEXT NOT NULL,
  step_id          TEXT NOT NULL,
  attempt          INTEGER NOT NULL,
  exit_code        INTEGER,
  stdout           TEXT NOT NULL,
  stdout_truncated INTEGER NOT NULL,
  stderr_tail      TEXT NOT NULL,
  transcript       TEXT NOT NULL,
  PRIMARY KEY(workflow_id, step_id),
  FOREIGN KEY(workflow_id, step_id) REFERENCES steps(workflow_id, step_id) ON DELETE CASCADE
);
CREATE TABLE output_files(
  workflow_id TEXT NOT NULL,
  step_id     TEXT NOT NULL,
  n           INTEGER NOT NULL,
  path        TEXT NOT NULL,
  size        INTEGER NOT NULL,
  content     BLOB,
  skipped     TEXT NOT NULL,
  PRIMARY KEY(workflow_id, step_id, n),
  FOREIGN KEY(workflow_id, step_id) REFERENCES steps(workflow_id, step_id) ON DELETE CASCADE
);
CREATE TABLE agent_vms(
  workflow_id TEXT NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
  agent       TEXT NOT NULL,
  vm          TEXT NOT NULL,
  subject     TEXT NOT NULL,
  deleted     INTEGER NOT NULL,
  PRIMARY KEY(workflow_id, vm)
);
)sql"}};
  return m;
}

constexpr char kWorkflowCols[] =
    "id, seq, spec, source, display_name, agents, state, error, create_us, start_us, end_us";

WorkflowRow ReadWorkflow(const sqlite::Statement& st) {
  WorkflowRow w;
  w.id = st.Text(0);
  w.seq = st.Int(1);
  w.spec = st.Text(2);
  w.source = st.Text(3);
  w.display_name = st.Text(4);
  w.agents = absl::StrSplit(st.Text(5), ',', absl::SkipEmpty());
  w.state = st.Int(6);
  w.error = st.Text(7);
  w.create_us = st.Int(8);
  w.start_us = st.Int(9);
  w.end_us = st.Int(10);
  return w;
}

void BindOptional(sqlite::Statement& st, int i, const std::optional<int>& v) {
  if (v) {
    st.Bind(i, int64_t{*v});
  } else {
    st.BindNull(i);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path) {
  ASSIGN_OR_RETURN(auto db, sqlite::Db::Open(path, Migrations()));
  return std::unique_ptr<Store>(new Store(std::move(db)));
}

absl::Status Store::PutStep(const StepRow& s) {
  ASSIGN_OR_RETURN(
      auto st,
      db_->Prepare(
          "INSERT INTO steps(workflow_id, step_id, idx, agent, state, attempts, exit_code, "
          "error, vm, fallback_for, start_us, end_us, retry_at_us) "
          "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(workflow_id, step_id) DO UPDATE SET "
          "state=excluded.state, attempts=excluded.attempts, exit_code=excluded.exit_code, "
          "error=excluded.error, vm=excluded.vm, start_us=excluded.start_us, "
          "end_us=excluded.end_us, retry_at_us=excluded.retry_at_us"));
  st.Bind(1, s.workflow_id).Bind(2, s.step_id).Bind(3, int64_t{s.idx}).Bind(4, s.agent);
  st.Bind(5, int64_t{s.state}).Bind(6, int64_t{s.attempts});
  BindOptional(st, 7, s.exit_code);
  st.Bind(8, s.error)
      .Bind(9, s.vm)
      .Bind(10, s.fallback_for)
      .Bind(11, s.start_us)
      .Bind(12, s.end_us);
  st.Bind(13, s.retry_at_us);
  return st.Run();
}

absl::Status Store::Create(WorkflowRow& wf, const std::vector<StepRow>& steps) {
  ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(*db_));
  {
    ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT 1 FROM workflows WHERE id = ?"));
    st.Bind(1, wf.id);
    ASSIGN_OR_RETURN(bool exists, st.Step());
    if (exists)
      return absl::AlreadyExistsError(absl::StrCat("workflows/", wf.id, " already exists"));
  }
  {
    ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT COALESCE(MAX(seq), 0) + 1 FROM workflows"));
    ASSIGN_OR_RETURN(bool row, st.Step());
    wf.seq = row ? st.Int(0) : 1;
  }
  {
    ASSIGN_OR_RETURN(auto st, db_->Prepare(absl::StrCat("INSERT INTO workflows(", kWorkflowCols,
                                                        ") VALUES(?,?,?,?,?,?,?,?,?,?,?)")));
    st.Bind(1, wf.id).Bind(2, wf.seq).Bind(3, wf.spec).Bind(4, wf.source).Bind(5, wf.display_name);
    st.Bind(6, absl::StrJoin(wf.agents, ",")).Bind(7, int64_t{wf.state}).Bind(8, wf.error);
    st.Bind(9, wf.create_us).Bind(10, wf.start_us).Bind(11, wf.end_us);
    RETURN_IF_ERROR(st.Run());
  }
  for (const auto& s : steps) RETURN_IF_ERROR(PutStep(s));
  return tx->Commit();
}

absl::StatusOr<std::optional<WorkflowRow>> Store::Get(const std::string& id) {
  std::lock_guard lock(db_->mutex());
  ASSIGN_OR_RETURN(auto st, db_->Prepare(absl::StrCat("SELECT ", kWorkflowCols,
                                                      " FROM workflows WHERE id = ?")));
  st.Bind(1, id);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::nullopt;
  return ReadWorkflow(st);
}

absl::StatusOr<std::vector<WorkflowRow>> Store::List(int state, int64_t before_seq, int limit) {
  std::lock_guard lock(db_->mutex());
  ASSIGN_OR_RETURN(auto st,
                   db_->Prepare(absl::StrCat("SELECT ", kWorkflowCols,
                                             " FROM workflows WHERE (? = 0 OR state = ?) AND "
                                             "(? = 0 OR seq < ?) ORDER BY seq DESC LIMIT ?")));
  st.Bind(1, int64_t{state}).Bind(2, int64_t{state}).Bind(3, before_seq).Bind(4, before_seq);
  st.Bind(5, int64_t{limit});
  std::vector<WorkflowRow> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(ReadWorkflow(st));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> Store::Unfinished() {
  std::lock_guard lock(db_->mutex());
  ASSIGN_OR_RETURN(auto st,
                   db_->Prepare("SELECT id FROM workflows WHERE state IN (1, 2, 5) ORDER BY seq"));
  std::vector<std::string> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(st.Text(0));
  }
  return out;
}

absl::StatusOr<int> Store::CountUnfinished() {
  ASSIGN_OR_RETURN(auto ids, Unfinished());
  return static_cast<int>(ids.size());
}

absl::Status Store::UpdateWorkflow(const WorkflowRow& wf) {
  std::lock_guard lock(db_->mutex());
  ASSIGN_OR_RETURN(
      auto st, db_->Prepare("UPDATE workflows SET state = ?, error = ?, start_us = ?, end_us = ? "
                            "WHERE id = ?"));
  st.Bind(1, int64_t{wf.state})
      .Bind(2, wf.error)
      .Bind(3, wf.start_us)
      .Bind(4, wf.end_us)
      .Bind(5, wf.id);
  return st.Run();
}

absl::StatusOr<std::vector<StepRow>> Store::Steps(const std::string& workflow_id) {
  std::lock_guard lock(db_->mutex());
  ASSIGN_OR_RETURN(
      auto st, db_->Prepare("SELECT step_id, idx, agent, state, attempts, exit_code, error, vm, "
                            "fallback_for, start_us, end_us, retry_at_us FROM steps "
                            "WHERE workflow_id = ? ORDER BY idx"));
  st.Bind(1, workflow_id);
  std::vector<StepRow> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    StepRow s;
    s.workflow_id = workflow_id;
    s.step_id = st.Text(0);
    s.idx = st.Int(1);
    s.agent = st.Text(2);
    s.state = st.Int(3);
    s.attempts = st.Int(4);
    if (!st.IsNull(5)) s.exit_code = st.Int(5);
    s.error = st.Text(6);
    s.vm = st.Text(7);
    s.fallback_for = st.Text(8);
    s.start_us = st.Int(9);
    s.end_us = st.Int(10);
    s.retry_at_us = st.Int(11);
    out.push_back(std::move(s));
  }
  return out;
}

absl::Status Store::UpdateStep(const StepRow& step) {
  std::lock_guard lock(db_->mutex());
  return PutStep(step);
}

absl::Status Store::BeginAttempt(const StepRow& step) {
  ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(*db_));
  RETURN_IF_ERROR(PutStep(step));
  ASSIGN_OR_RETURN(auto st,
                   db_->Prepare("INSERT OR IGNORE INTO attempts(workflow_id, step_id, attempt, vm, "
                                "finished, exit_code, error, start_us, end_us) "
                                "VALUES(?,?,?,?,0,NULL,'',?,0)"));
  st.Bind(1, step.workflow_id)
      .Bind(2, step.step_id)
      .Bind(3, int64_t{step.attempts})
      .Bind(4, step.vm);
  st.Bind(5, absl::ToUnixMicros(absl::Now()));
  RETURN_IF_ERROR(st.Run());
  return tx->Commit();
}

absl::Status Store::FinishAttempt(const StepRow& step, const std::string& error,
                                  const StepOutputData& o) {
  ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(*db_));
  RETURN_IF_ERROR(PutStep(step));
  {
    ASSIGN_OR_RETURN(
        auto st,
        db_->Prepare("UPDATE attempts SET finished = 1, exit_code = ?, error = ?, end_us = ? "
                     "WHERE workflow_id = ? AND step_id = ? AND attempt = ?"));
    BindOptional(st, 1, o.exit_code);
    st.Bind(2, error)
        .Bind(3, absl::ToUnixMicros(absl::Now()))
        .Bind(4, step.workflow_id)
        .Bind(5, step.step_id);
    st.Bind(6, int64_t{step.attempts});
    RETURN_IF_ERROR(st.Run());
  }
  if (o.attempt > 0) {
    ASSIGN_OR_RETURN(
        auto st,
        db_->Prepare("INSERT INTO outputs(workflow_id, step_id, attempt, exit_code, stdout, "
                     "stdout_truncated, stderr_tail, transcript) VALUES(?,?,?,?,?,?,?,?) "
                     "ON CONFLICT(workflow_id, step_id) DO UPDATE SET attempt=excluded.attempt, "
                     "exit_code=excluded.exit_code, stdout=excluded.stdout, "
                     "stdout_truncated=excluded.stdout_truncated, "
                     "stderr_tail=excluded.stderr_tail, transcript=excluded.transcript"));
    st.Bind(1, step.workflow_id).Bind(2, step.step_id).Bind(3, int64_t{o.attempt});
    BindOptional(st, 4, o.exit_code);
    st.Bind(5, o.stdout_text)
        .Bind(6, int64_t{o.stdout_truncated})
        .Bind(7, o.stderr_tail)
        .Bind(8, o.transcript);
    RETURN_IF_ERROR(st.Run());
    ASSIGN_OR_RETURN(
        auto del, db_->Prepare("DELETE FROM output_files WHERE workflow_id = ? AND step_id = ?"));
    del.Bind(1, step.workflow_id).Bind(2, step.step_id);
    RETURN_IF_ERROR(del.Run());
    for (size_t i = 0; i < o.files.size(); ++i) {
      const auto& f = o.files[i];
      ASSIGN_OR_RETURN(auto ins,
                       db_->Prepare("INSERT INTO output_files(workflow_id, step_id, n, path, size, "
                                    "content, skipped) VALUES(?,?,?,?,?,?,?)"));
      ins.Bind(1, step.workflow_id)
          .Bind(2, step.step_id)
          .Bind(3, int64_t(i))
          .Bind(4, f.path)
          .Bind(5, f.size);
      ins.BindBlob(6,
                   std::span(reinterpret_cast<const uint8_t*>(f.content.data()), f.content.size()));
      ins.Bind(7, f.skipped);
      RETURN_IF_ERROR(ins.Run());
    }
  }
  return tx->Commit();
}

absl::StatusOr<int64_t> Store::AttemptStart(const std::string& workflow_id,
                                            const std::string& step_id, int attempt) {
  std::lock_guard lock(db_->mutex());
  ASSIGN_OR_RETURN(
      auto st, db_->Prepare("SELECT start_us FROM attempts WHERE workflow_id = ? AND step_id = ? "
                            "AND attempt = ?"));
  st.Bind(1, workflow_id).Bind(2, step_id).Bind(3, int64_t{attempt});
  ASSIGN_OR_RETURN(bool row, st.Step());
  return row ? st.Int(0) : 0;
}

absl::StatusOr<std::optional<StepOutputData>> Store::Output(const std::string& workflow_id,
                                                            const std::string& step_id) {
  std::lock_guard lock(db_->mutex());
  ASSIGN_OR_RETURN(auto st,
                   db_->Prepare("SELECT attempt, exit_code, stdout, stdout_truncated, stderr_tail, "
                                "transcript FROM outputs WHERE workflow_id = ? AND step_id = ?"));
  st.Bind(1, workflow_id).Bind(2, step_id);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::nullopt;
  StepOutputData o;
  o.attempt = st.Int(0);
  if (!st.IsNull(1)) o.exit_code = st.Int(1);
  o.stdout_text = st.Text(2);
  o.stdout_truncated = st.Int(3) != 0;
  o.stderr_tail = st.Text(4);
  o.transcript = st.Text(5);
  ASSIGN_OR_RETURN(auto fs, db_->Prepare("SELECT path, size, content, skipped FROM output_files "
                                         "WHERE workflow_id = ? AND step_id = ? ORDER BY n"));
  fs.Bind(1, workflow_id).Bind(2, step_id);
  while (true) {
    ASSIGN_OR_RETURN(bool more, fs.Step());
    if (!more) break;
    OutputFileData f;
    f.path = fs.Text(0);
    f.size = fs.Int(1);
    auto blob = fs.Blob(2);
    f.content.assign(blob.begin(), blob.end());
    f.skipped = fs.Text(3);
    o.files.push_back(std::move(f));
  }
  return o;
}

absl::Status Store::AddAgentVm(const std::string& workflow_id, const AgentVmRow& vm) {
  std::lock_guard lock(db_->mutex());
  ASSIGN_OR_RETURN(auto st,
                   db_->Prepare("INSERT INTO agent_vms(workflow_id, agent, vm, subject, deleted) "
                                "VALUES(?,?,?,?,0) ON CONFLICT(workflow_id, vm) DO UPDATE SET "
                                "subject = excluded.subject, deleted = 0"));
  st.Bind(1, workflow_id).Bind(2, vm.agent).Bind(3, vm.vm).Bind(4, vm.subject);
  return st.Run();
}

absl::Status Store::MarkVmDeleted(const std::string& workflow_id, const std::string& vm) {
  std::lock_guard lock(db_->mutex());
  ASSIGN_OR_RETURN(
      auto st, db_->Prepare("UPDATE agent_vms SET deleted = 1 WHERE workflow_id = ? AND vm = ?"));
  st.Bind(1, workflow_id).Bind(2, vm);
  return st.Run();
}

absl::StatusOr<std::vector<AgentVmRow>> Store::AgentVms(const std::string& workflow_id) {
  std::lock_guard lock(db_->mutex());
  ASSIGN_OR_RETURN(
      auto st,
      db_->Prepare("SELECT agent, vm, subject, deleted FROM agent_vms WHERE workflow_id = ? "
                   "ORDER BY rowid"));
  st.Bind(1, workflow_id);
  std::vector<AgentVmRow> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({st.Text(0), st.Text(1), st.Text(2), st.Int(3) != 0});
  }
  return out;
}

}  // namespace clawos::orchestrator
