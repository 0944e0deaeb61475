#include "monitor/bpf_monitor.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "monitor.skel.h"
#include "monitor/syscalls.h"
#include "monitor/tracefs.h"

namespace clawos::monitor {
namespace {

// libbpf's own messages go to our log (warnings and errors only).
int LibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char buf[1024];
  int n = vsnprintf(buf, sizeof(buf), fmt, args);
  std::string msg(buf, n > 0 ? std::min<size_t>(n, sizeof(buf) - 1) : 0);
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  log::Warn("libbpf", {{"message", msg}});
  return 0;
}

absl::Status Errno(int err, const std::string& what) {
  err = err < 0 ? -err : err;
  std::string why = strerror(err);
  if (err == EPERM || err == EACCES) {
    return absl::PermissionDeniedError(
        absl::StrCat(what, ": ", why, " (the monitor needs root: CAP_BPF and CAP_PERFMON)"));
  }
  return absl::InternalError(absl::StrCat(what, ": ", why));
}

int OnEvent(void* ctx, void* data, size_t size) {
  if (size < sizeof(clawos_event)) return 0;
  clawos_event e;
  std::memcpy(&e, data, sizeof(e));
  (*static_cast<BpfMonitor::EventHandler*>(ctx))(e);
  return 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<BpfMonitor>> BpfMonitor::Open(const Options& options,
                                                             EventHandler handler) {
  libbpf_set_print(LibbpfPrint);
  std::unique_ptr<BpfMonitor> m(new BpfMonitor);
  m->handler_ = std::move(handler);
  m->ncpu_ = libbpf_num_possible_cpus();
  if (m->ncpu_ <= 0) return Errno(m->ncpu_, "counting CPUs");
  m->skel_ = monitor_bpf__open();
  if (!m->skel_) return Errno(errno, "opening the BPF object");
  m->skel_->rodata->wakeup_bytes = options.wakeup_bytes;
  // Exit hooks are attached here, per detailed call or generic.
  bpf_program__set_autoattach(m->skel_->progs.on_sys_exit, false);
  bpf_program__set_autoattach(m->skel_->progs.on_call_exit, false);
  if (int err = monitor_bpf__load(m->skel_)) return Errno(err, "loading the BPF programs");
  if (int err = monitor_bpf__attach(m->skel_)) {
    return Errno(err, "attaching to tp_btf/sys_enter, sched_process_* and cgroup_attach_task");
  }
  if (options.generic_exit) {
    if (auto s = m->UseGenericExit(absl::OkStatus()); !s.ok()) return s;
  } else if (auto ids = SyscallExitTracepoints(); ids.ok()) {
    m->exit_tracepoints_ = *std::move(ids);
  } else if (auto s = m->UseGenericExit(ids.status()); !s.ok()) {
    return s;
  }
  m->rb_ = ring_buffer__new(bpf_map__fd(m->skel_->maps.events), OnEvent, &m->handler_, nullptr);
  if (!m->rb_) return Errno(errno, "opening the ring buffer");
  return m;
}

BpfMonitor::~BpfMonitor() {
  if (rb_) ring_buffer__free(rb_);
  for (auto& [nr, link] : exit_links_) bpf_link__destroy(link);
  if (generic_exit_) bpf_link__destroy(generic_exit_);
  if (skel_) monitor_bpf__destroy(skel_);
}

absl::Status BpfMonitor::ClearRow(uint32_t index) {
  std::vector<uint64_t> zeros(ncpu_, 0);
  for (uint32_t nr = 0; nr < kMaxSyscalls; ++nr) {
    uint32_t slot = index * kMaxSyscalls + nr;
    if (bpf_map__update_elem(skel_->maps.counts, &slot, sizeof(slot), zeros.data(),
                             zeros.size() * sizeof(uint64_t), BPF_ANY) != 0) {
      return Errno(errno, "clearing counts");
    }
    uint8_t none = 0;
    if (bpf_map__update_elem(skel_->maps.syscall_policy, &slot, sizeof(slot), &none, sizeof(none),
                             BPF_ANY) != 0) {
      return Errno(errno, "clearing the policy");
    }
  }
  std::vector<clawos_target_stats> stats(ncpu_);
  std::memset(stats.data(), 0, stats.size() * sizeof(clawos_target_stats));
  if (bpf_map__update_elem(skel_->maps.target_stats, &index, sizeof(index), stats.data(),
                           stats.size() * sizeof(clawos_target_stats), BPF_ANY) != 0) {
    return Errno(errno, "clearing stats");
  }
  return absl::OkStatus();
}

absl::Status BpfMonitor::AddTarget(uint64_t cgroup_id, uint32_t index) {
  if (index >= kMaxTargets) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the kernel filter holds ", kMaxTargets, " targets"));
  }
  if (auto s = ClearRow(index); !s.ok()) return s;
  clawos_target_cfg cfg{index, 0};
  if (bpf_map__update_elem(skel_->maps.targets, &cgroup_id, sizeof(cgroup_id), &cfg, sizeof(cfg),
                           BPF_NOEXIST) != 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat("cgroup ", cgroup_id, " is already a target"));
    }
    return Errno(errno, "adding the target to the kernel filter");
  }
  NewGeneration();
  return absl::OkStatus();
}

absl::Status BpfMonitor::RemoveTarget(uint64_t cgroup_id, uint32_t index) {
  if (bpf_map__delete_elem(skel_->maps.targets, &cgroup_id, sizeof(cgroup_id), 0) != 0 &&
      errno != ENOENT) {
    return Errno(errno, "removing the target from the kernel filter");
  }
  NewGeneration();
  return index < kMaxTargets ? ClearRow(index) : absl::OkStatus();
}

absl::Status BpfMonitor::SetPolicy(uint32_t index, int nr, uint8_t bits) {
  if (index >= kMaxTargets || nr < 0 || nr >= kMaxSyscalls) {
    return absl::InvalidArgumentError(
        absl::StrCat("no policy slot for target ", index, ", system call ", nr));
  }
  bits &= ~CLAWOS_POL_AT_ENTRY;
  if (bits & CLAWOS_POL_DETAIL) {
    auto s = HookExit(nr);
    if (absl::IsNotFound(s)) {
      bits |= CLAWOS_POL_AT_ENTRY;  // no exit tracepoint: the event is made at entry
    } else if (!s.ok()) {
      return s;
    }
  }
  uint32_t slot = index * kMaxSyscalls + static_cast<uint32_t>(nr);
  if (bpf_map__update_elem(skel_->maps.syscall_policy, &slot, sizeof(slot), &bits, sizeof(bits),
                           BPF_ANY) != 0) {
    return Errno(errno, "setting the policy");
  }
  return absl::OkStatus();
}

void BpfMonitor::NewGeneration() {
  // After the map update: a task that reads the new generation finds the new
  // targets.
  __atomic_fetch_add(&skel_->data->generation, 1, __ATOMIC_SEQ_CST);
}

absl::Status BpfMonitor::UseGenericExit(const absl::Status& why) {
  // Caller holds hooks_mu_ (or is Open, before anyone else has the object).
  if (generic_exit_) return absl::OkStatus();
  generic_exit_ = bpf_program__attach(skel_->progs.on_sys_exit);
  if (!generic_exit_) return Errno(errno, "attaching to tp_btf/sys_exit");
  if (!why.ok()) {
    log::Warn("every system call of the host now runs the monitor's exit program",
              {{"why", std::string(why.message())}});
  }
  return absl::OkStatus();
}

absl::Status BpfMonitor::HookExit(int nr) {
  std::lock_guard lock(hooks_mu_);
  if (generic_exit_ || exit_links_.count(nr)) return absl::OkStatus();
  auto id = exit_tracepoints_.find(nr);
  if (id == exit_tracepoints_.end()) {
    return absl::NotFoundError(
        absl::StrCat("no syscalls:sys_exit_", SyscallName(nr), " tracepoint"));
  }
  perf_event_attr attr{};
  attr.type = PERF_TYPE_TRACEPOINT;
  attr.size = sizeof(attr);
  attr.config = static_cast<uint64_t>(id->second);
  attr.sample_period = 1;
  attr.wakeup_events = 1;
  // The program runs for the tracepoint on every CPU; the event is opened on one.
  int fd = static_cast<int>(syscall(__NR_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC));
  if (fd < 0) {
    return UseGenericExit(
        Errno(errno, absl::StrCat("opening syscalls:sys_exit_", SyscallName(nr))));
  }
  bpf_link* link = bpf_program__attach_perf_event(skel_->progs.on_call_exit, fd);
  if (!link) {
    int err = errno;
    close(fd);
    return UseGenericExit(
        Errno(err, absl::StrCat("attaching to syscalls:sys_exit_", SyscallName(nr))));
  }
  exit_links_[nr] = link;  // the link owns the perf event fd
  return absl::OkStatus();
}

std::string BpfMonitor::ExitHooks() const {
  std::lock_guard lock(hooks_mu_);
  return generic_exit_ ? "generic" : "per-call";
}

absl::StatusOr<SyscallCounts> BpfMonitor::Counts(uint32_t index) const {
  if (index >= kMaxTargets) return absl::InvalidArgumentError("no such target row");
  SyscallCounts out{};
  std::vector<uint64_t> per_cpu(ncpu_);
  for (uint32_t nr = 0; nr < kMaxSyscalls; ++nr) {
    uint32_t slot = index * kMaxSyscalls + nr;
    if (bpf_map__lookup_elem(skel_->maps.counts, &slot, sizeof(slot), per_cpu.data(),
                             per_cpu.size() * sizeof(uint64_t), 0) != 0) {
      return Errno(errno, "reading counts");
    }
    for (uint64_t v : per_cpu) out[nr] += v;
  }
  return out;
}

absl::StatusOr<clawos_target_stats> BpfMonitor::Stats(uint32_t index) const {
  if (index >= kMaxTargets) return absl::InvalidArgumentError("no such target row");
  std::vector<clawos_target_stats> per_cpu(ncpu_);
  if (bpf_map__lookup_elem(skel_->maps.target_stats, &index, sizeof(index), per_cpu.data(),
                           per_cpu.size() * sizeof(clawos_target_stats), 0) != 0) {
    return Errno(errno, "reading stats");
  }
  clawos_target_stats sum{};
  for (const auto& s : per_cpu) {
    sum.events_emitted += s.events_emitted;
    sum.events_dropped += s.events_dropped;
    sum.forks += s.forks;
    sum.execs += s.execs;
    sum.kills += s.kills;
  }
  return sum;
}

absl::StatusOr<int> BpfMonitor::Poll(int timeout_ms) {
  // Producers mostly submit without a wake-up (batching), so epoll only
  // fires for a full batch: after the wait, take whatever is there anyway.
  int n = ring_buffer__poll(rb_, timeout_ms);
  if (n < 0 && n != -EINTR) return Errno(n, "polling the ring buffer");
  int more = ring_buffer__consume(rb_);
  if (more < 0) return Errno(more, "reading the ring buffer");
  return std::max(n, 0) + more;
}

}  // namespace clawos::monitor
