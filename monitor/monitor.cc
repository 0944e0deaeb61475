#include "monitor/monitor.h"

#include <signal.h>
#include <sys/stat.h>

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"
#include "common/log.h"
#include "monitor/decode.h"
#include "monitor/syscalls.h"

namespace clawos::monitor {
namespace {

namespace pb = ::clawos::monitor::v1;
constexpr char kTargetPrefix[] = "targets/";

bool ValidId(const std::string& id) {
  if (id.empty() || id.size() > 63) return false;
  for (char c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      return false;
  }
  return true;
}

absl::StatusOr<std::string> IdFromName(const std::string& name) {
  if (!absl::StartsWith(name, kTargetPrefix) || !ValidId(name.substr(8))) {
    return absl::InvalidArgumentError(
        absl::StrCat("name \"", name, "\": want targets/<id> (letters, digits, - _ .)"));
  }
  return name.substr(8);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Monitor>> Monitor::Open(MonitorOptions options) {
  std::unique_ptr<Monitor> m(new Monitor(std::move(options)));
  m->start_time_ = absl::Now();
  auto store = TargetStore::Open(m->options_.state_dir + "/targets.db");
  if (!store.ok()) return store.status();
  m->store_ = std::move(*store);
  if (!m->options_.events_path.empty()) {
    auto j = JsonlSink::Open(m->options_.events_path);
    if (!j.ok()) return j.status();
    m->jsonl_ = std::move(*j);
  }
  if (m->options_.siem) {
    auto s = SiemSink::Start(*m->options_.siem, m->options_.hostname);
    if (!s.ok()) return s.status();
    m->siem_ = std::move(*s);
  }
  Monitor* raw = m.get();
  BpfMonitor::Options bpf_options;
  bpf_options.wakeup_bytes = m->options_.wakeup_bytes;
  bpf_options.generic_exit = m->options_.generic_exit;
  auto bpf = BpfMonitor::Open(bpf_options, [raw](const clawos_event& e) { raw->Handle(e); });
  if (!bpf.ok()) return bpf.status();
  m->bpf_ = std::move(*bpf);
  // Restore: same ids, same rows; a cgroup that went away stays listed.
  auto records = m->store_->List();
  if (!records.ok()) return records.status();
  for (auto& r : *records) {
    Live& t = m->targets_[r.id];
    t.record = r;
    if (r.row < kMaxTargets) m->by_row_[r.row] = &t;
    if (!r.cgroup_path.empty() && !std::filesystem::exists(r.cgroup_path)) continue;
    if (auto s = m->Activate(t); !s.ok()) {
      log::Warn("target not restored", {{"target", r.id}, {"error", std::string(s.message())}});
    }
  }
  m->reader_ = std::thread([raw] { raw->ReadLoop(); });
  return m;
}

Monitor::~Monitor() {
  stop_ = true;
  if (reader_.joinable()) reader_.join();
  if (jsonl_) jsonl_->Flush();
  events_.Close();
}

absl::Status Monitor::Activate(Live& t) {
  if (auto s = bpf_->AddTarget(t.record.cgroup_id, t.record.row); !s.ok()) return s;
  for (int nr = 0; nr < kMaxSyscalls; ++nr) {
    uint8_t bits = options_.policy.Bits(t.record.id, nr);
    if (!bits) continue;
    if (auto s = bpf_->SetPolicy(t.record.row, nr, bits); !s.ok()) return s;
  }
  t.active = true;
  return absl::OkStatus();
}

pb::Target Monitor::ToProto(const Live& t) const {
  pb::Target p;
  p.set_name(kTargetPrefix + t.record.id);
  p.set_vm(t.record.vm);
  p.set_agent_subject(t.record.agent_subject);
  p.set_cgroup_id(t.record.cgroup_id);
  p.set_cgroup_path(t.record.cgroup_path);
  bool gone = !t.active ||
              (!t.record.cgroup_path.empty() && !std::filesystem::exists(t.record.cgroup_path));
  p.set_state(gone ? pb::Target::CGROUP_GONE : pb::Target::ACTIVE);
  *p.mutable_create_time() = ToProtoTime(t.record.create_time);
  return p;
}

absl::StatusOr<pb::Target> Monitor::CreateTarget(const pb::CreateTargetRequest& r) {
  if (!ValidId(r.target_id())) {
    return absl::InvalidArgumentError("target_id: 1-63 of letters, digits, - _ .");
  }
  if (!absl::StartsWith(r.vm(), "vms/") || r.vm().size() <= 4) {
    return absl::InvalidArgumentError("vm: want vms/<id>");
  }
  if (r.cgroup_id() == 0 && r.cgroup_path().empty()) {
    return absl::InvalidArgumentError("give cgroup_id or cgroup_path");
  }
  uint64_t id = r.cgroup_id();
  if (!r.cgroup_path().empty()) {
    struct stat st {};
    if (stat(r.cgroup_path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return absl::NotFoundError(absl::StrCat("cgroup_path ", r.cgroup_path(), " does not exist"));
    }
    if (id != 0 && id != st.st_ino) {
      return absl::FailedPreconditionError(absl::StrCat("cgroup_id ", id, " is not the id of ",
                                                        r.cgroup_path(), " (", st.st_ino, ")"));
    }
    id = st.st_ino;
  }
  std::lock_guard lock(mu_);
  if (targets_.count(r.target_id())) {
    return absl::AlreadyExistsError(absl::StrCat("target ", r.target_id(), " exists"));
  }
  for (const auto& [tid, t] : targets_) {
    if (t.record.cgroup_id == id) {
      return absl::AlreadyExistsError(absl::StrCat("cgroup ", id, " is watched by targets/", tid));
    }
  }
  uint32_t row = kMaxTargets;
  for (uint32_t i = 0; i < kMaxTargets; ++i) {
    if (!by_row_[i]) {
      row = i;
      break;
    }
  }
  if (row == kMaxTargets) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the kernel filter holds ", kMaxTargets, " targets; delete one first"));
  }
  Live t;
  t.record = {r.target_id(), r.vm(), r.agent_subject(), id, r.cgroup_path(), row, absl::Now()};
  if (auto s = store_->Insert(t.record); !s.ok()) return s;
  Live& placed = targets_[r.target_id()] = t;
  if (auto s = Activate(placed); !s.ok()) {
    bpf_->RemoveTarget(id, row).IgnoreError();
    store_->Delete(r.target_id()).IgnoreError();
    targets_.erase(r.target_id());
    return s;
  }
  by_row_[row] = &placed;
  log::Info("target created",
            {{"target", r.target_id()}, {"vm", r.vm()}, {"cgroup_id", static_cast<int64_t>(id)}});
  return ToProto(placed);
}

absl::StatusOr<pb::Target> Monitor::GetTarget(const std::string& name) {
  auto id = IdFromName(name);
  if (!id.ok()) return id.status();
  std::lock_guard lock(mu_);
  auto it = targets_.find(*id);
  if (it == targets_.end()) return absl::NotFoundError(absl::StrCat("no target ", name));
  return ToProto(it->second);
}

std::vector<pb::Target> Monitor::ListTargets() {
  std::lock_guard lock(mu_);
  std::vector<pb::Target> out;
  for (const auto& [id, t] : targets_) out.push_back(ToProto(t));
  return out;
}

absl::Status Monitor::DeleteTarget(const std::string& name) {
  auto id = IdFromName(name);
  if (!id.ok()) return id.status();
  std::lock_guard lock(mu_);
  auto it = targets_.find(*id);
  if (it == targets_.end()) return absl::NotFoundError(absl::StrCat("no target ", name));
  if (auto s = bpf_->RemoveTarget(it->second.record.cgroup_id, it->second.record.row); !s.ok()) {
    return s;
  }
  if (auto s = store_->Delete(*id); !s.ok()) return s;
  by_row_[it->second.record.row] = nullptr;
  targets_.erase(it);
  log::Info("target deleted", {{"target", *id}});
  return absl::OkStatus();
}

std::string Monitor::ExitHooks() const { return bpf_->ExitHooks(); }

absl::StatusOr<pb::Stats> Monitor::GetStats(const std::vector<std::string>& names) {
  std::vector<std::string> ids;
  for (const auto& n : names) {
    auto id = IdFromName(n);
    if (!id.ok()) return id.status();
    ids.push_back(*id);
  }
  // The rows are taken under the lock; the BPF maps (512 lookups a target)
  // are read outside it, so a scrape never holds up the event reader.
  struct Row {
    std::string id, vm;
    bool active;
    uint32_t row;
  };
  std::vector<Row> rows;
  {
    std::lock_guard lock(mu_);
    if (ids.empty()) {
      for (const auto& [id, t] : targets_) ids.push_back(id);
    }
    for (const auto& id : ids) {
      auto it = targets_.find(id);
      if (it == targets_.end()) return absl::NotFoundError(absl::StrCat("no target targets/", id));
      rows.push_back({id, it->second.record.vm, it->second.active, it->second.record.row});
    }
  }
  pb::Stats out;
  out.set_exit_hooks(bpf_->ExitHooks());
  uint64_t ring_drops = 0;
  for (const Row& t : rows) {
    pb::TargetStats* ts = out.add_targets();
    ts->set_target(kTargetPrefix + t.id);
    ts->set_vm(t.vm);
    if (!t.active) continue;
    auto counts = bpf_->Counts(t.row);
    if (!counts.ok()) return counts.status();
    uint64_t total = 0;
    for (int nr = 0; nr < kMaxSyscalls; ++nr) {
      if (!(*counts)[nr]) continue;
      (*ts->mutable_syscall_counts())[SyscallName(nr)] = (*counts)[nr];
      total += (*counts)[nr];
    }
    ts->set_syscalls_total(total);
    auto st = bpf_->Stats(t.row);
    if (!st.ok()) return st.status();
    ts->set_events_emitted(st->events_emitted);
    ts->set_events_dropped(st->events_dropped);
    ts->set_forks(st->forks);
    ts->set_execs(st->execs);
    ring_drops += st->events_dropped;
  }
  out.set_ring_buffer_drops(ring_drops);
  out.set_stream_drops(stream_drops_);
  out.set_events_total(sequence_);
  *out.mutable_start_time() = ToProtoTime(start_time_);
  return out;
}

std::vector<pb::Sink> Monitor::Sinks() {
  std::vector<pb::Sink> out;
  if (jsonl_) out.push_back(jsonl_->Status());
  if (siem_) out.push_back(siem_->Status());
  return out;
}

absl::Status Monitor::Watch(const pb::EventFilter& filter,
                            const std::function<bool(const pb::Event&)>& write,
                            const std::function<bool()>& cancelled) {
  auto match = EventFilter::Create(filter);
  if (!match.ok()) return match.status();
  int64_t after = events_.Last();
  uint64_t lost = 0;
  while (!cancelled()) {
    auto batch = events_.Since(after, absl::Milliseconds(500));
    if (batch.closed) return absl::UnavailableError("the monitor is shutting down");
    if (batch.gap) {
      lost += batch.dropped;
      stream_drops_ += batch.dropped;
    }
    for (auto& [id, e] : batch.events) {
      after = id;
      if (!match->Matches(e)) continue;
      if (lost) e.set_dropped_before(std::exchange(lost, 0));
      if (!write(e)) return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

absl::Status Monitor::ReportLlmRequest(const std::string& vm, const std::string& request_id,
                                       bool begin) {
  if (request_id.empty()) return absl::InvalidArgumentError("request_id is required");
  std::lock_guard lock(mu_);
  bool watched = false;
  for (const auto& [id, t] : targets_) watched = watched || t.record.vm == vm;
  if (!watched) return absl::NotFoundError(absl::StrCat("no target watches ", vm));
  if (begin) {
    llm_requests_[vm].insert(request_id);
  } else {
    llm_requests_[vm].erase(request_id);
    if (llm_requests_[vm].empty()) llm_requests_.erase(vm);
  }
  return absl::OkStatus();
}

void Monitor::ReadLoop() {
  absl::Duration wait = absl::Milliseconds(1);
  while (!stop_) {
    auto n = bpf_->Poll(static_cast<int>(absl::ToInt64Milliseconds(wait)));
    if (!n.ok()) {
      log::Error("reading events failed", {{"error", std::string(n.status().message())}});
      absl::SleepFor(absl::Milliseconds(100));
      continue;
    }
    if (*n > 0 && jsonl_) jsonl_->Flush();  // one write per batch
    // Busy: poll again at once; idle: back off (a full batch wakes us anyway).
    wait = *n > 0 ? absl::Milliseconds(1) : std::min(wait * 2, options_.max_poll_wait);
    handled_.fetch_add(1);
  }
}

void Monitor::Flush() {
  uint64_t start = handled_.load();
  for (int i = 0; i < 400 && handled_.load() < start + 2; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  if (siem_) siem_->Drain(absl::Seconds(5));
}

void Monitor::Handle(const clawos_event& raw) {
  TargetNames names;
  std::string target_id, llm_id;
  {
    std::lock_guard lock(mu_);
    const Live* t = raw.target < kMaxTargets ? by_row_[raw.target] : nullptr;
    if (!t) return;  // deleted meanwhile
    target_id = t->record.id;
    names = {kTargetPrefix + t->record.id, t->record.vm, t->record.agent_subject};
    auto it = llm_requests_.find(t->record.vm);
    if (it != llm_requests_.end() && it->second.size() == 1) llm_id = *it->second.begin();
  }
  pb::Event e = Decode(raw, names);
  bool kill = options_.policy.Apply(target_id, &e);
  std::string action = e.rule().empty() ? "observed" : "alerted";
  if (raw.policy & CLAWOS_POL_KILL) action = "killed";
  if (kill && e.kind() == pb::Event::PROCESS_EXEC) {
    ::kill(e.pid(), SIGKILL);  // a denied program: killed as it starts
    action = "killed";
  }
  e.set_action(action);
  e.set_llm_request_id(llm_id);
  e.set_sequence(++sequence_);
  if (jsonl_) jsonl_->Write(e);
  if (siem_) siem_->Send(e);
  events_.Publish(std::move(e));
}

}  // namespace clawos::monitor
