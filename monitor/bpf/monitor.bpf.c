// SPDX-License-Identifier: GPL-2.0
/* clawos-monitor's kernel side. Filters by cgroup v2 id in the kernel:
 * for a process in a target cgroup, every system call is counted (per-CPU,
 * nothing lost whatever the rate); calls the target's policy marks get a
 * detailed event at their exit and, with enforcement, SIGKILL; process
 * fork/exec/exit make events.
 *
 * Register arguments are taken at entry; the memory they point to is read at
 * exit, when the kernel has faulted it in (at entry a page a fork left
 * unmapped cannot be read from here). A successful execve has replaced the
 * memory: its argv comes from the new image's argument area.
 * Events go through one ring buffer with batched wake-ups: a producer wakes
 * the reader only once `wakeup_bytes` are pending; the reader also polls. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "events.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u64 wakeup_bytes = 256 * 1024;

/* Moves when the targets change (user space, after updating `targets`) and
 * when any task changes cgroup (on_cgroup_attach): every task's cached target
 * row is then read again. Starts at 1; a new task's cache holds 0. */
__u64 generation = 1;

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, CLAWOS_MAX_TARGETS);
  __type(key, __u64); /* cgroup v2 id */
  __type(value, struct clawos_target_cfg);
} targets SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, CLAWOS_MAX_TARGETS * CLAWOS_MAX_SYSCALLS);
  __type(key, __u32);
  __type(value, __u64);
} counts SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, CLAWOS_MAX_TARGETS * CLAWOS_MAX_SYSCALLS);
  __type(key, __u32);
  __type(value, __u8);
} syscall_policy SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, CLAWOS_MAX_TARGETS);
  __type(key, __u32);
  __type(value, struct clawos_target_stats);
} target_stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 8 * 1024 * 1024);
} events SEC(".maps");

struct pending {
  __u32 active;
  __u32 pad;
  struct clawos_event ev;
};

/* The call in progress of a task, from its entry to its exit. */
struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct pending);
} inflight SEC(".maps");

/* A task's target row (-1: none), cached so that a system call costs one
 * task-storage lookup instead of a hash lookup of the cgroup id. */
struct target_cache {
  __u64 generation;
  __s32 index;
  __u32 pad;
};

struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct target_cache);
} task_target SEC(".maps");

static __always_inline int lookup_target(void) {
  __u64 cg = bpf_get_current_cgroup_id();
  struct clawos_target_cfg *t = bpf_map_lookup_elem(&targets, &cg);
  return t ? (int)t->index : -1;
}

/* The current task's target row, or -1. */
static __always_inline int current_target(void) {
  __u64 gen = *(volatile __u64 *)&generation;
  struct target_cache *c = bpf_task_storage_get(&task_target, bpf_get_current_task_btf(), 0,
                                                BPF_LOCAL_STORAGE_GET_F_CREATE);
  if (!c) return lookup_target(); /* no memory, or nested in another program */
  if (c->generation != gen) {
    c->index = lookup_target();
    c->generation = gen;
  }
  return c->index;
}

static __always_inline struct clawos_target_stats *stats_of(__u32 index) {
  return bpf_map_lookup_elem(&target_stats, &index);
}

static __always_inline __u64 submit_flags(void) {
  return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
                                                                        : BPF_RB_NO_WAKEUP;
}

static __always_inline void fill_task(struct clawos_event *e, __u32 kind, __u32 target) {
  struct task_struct *task = bpf_get_current_task_btf();
  __u64 id = bpf_get_current_pid_tgid();
  e->time_ns = bpf_ktime_get_ns();
  e->kind = kind;
  e->target = target;
  e->pid = id >> 32;
  e->tid = (__u32)id;
  e->ppid = BPF_CORE_READ(task, real_parent, tgid);
  e->uid = (__u32)bpf_get_current_uid_gid();
  bpf_get_current_comm(e->comm, sizeof(e->comm));
}

/* argv through the user's pointer array, into fixed slots. */
static __always_inline void read_argv_slots(struct clawos_event *e, __u64 argv) {
  e->argv_flat = 0;
#pragma unroll
  for (int i = 0; i < CLAWOS_ARGV_SLOTS; i++) {
    __u64 p = 0;
    e->argv[i * CLAWOS_ARGV_SLOT] = 0;
    if (bpf_probe_read_user(&p, sizeof(p), (void *)(argv + i * sizeof(__u64))) || !p) break;
    bpf_probe_read_user_str(&e->argv[i * CLAWOS_ARGV_SLOT], CLAWOS_ARGV_SLOT, (void *)p);
  }
}

/* argv of the current image: its argument area, NUL-separated. */
static __always_inline void read_argv_area(struct clawos_event *e) {
  struct task_struct *task = bpf_get_current_task_btf();
  __u64 start = BPF_CORE_READ(task, mm, arg_start);
  __u64 end = BPF_CORE_READ(task, mm, arg_end);
  __u64 len = end > start ? end - start : 0;
  if (len > CLAWOS_ARGV_BYTES - 1) len = CLAWOS_ARGV_BYTES - 1;
  e->argv_flat = 1;
  e->argv_len = 0;
  if (len && !bpf_probe_read_user(e->argv, len & (CLAWOS_ARGV_BYTES - 1), (void *)start))
    e->argv_len = len;
}

/* The memory the arguments point to, at the call's exit (or at its entry
 * when it has no exit hook). */
static __always_inline void read_pointed(struct clawos_event *e, int exited) {
  switch (e->nr) {
    case 59:  /* execve(filename, argv, envp) */
    case 322: /* execveat(dfd, filename, argv, envp, flags) */
      if (exited && e->ret == 0) {
        /* the old memory is gone; on_exec filled in the path and argv */
      } else if (e->nr == 59) {
        bpf_probe_read_user_str(e->str, sizeof(e->str), (void *)e->args[0]);
        read_argv_slots(e, e->args[1]);
      } else {
        bpf_probe_read_user_str(e->str, sizeof(e->str), (void *)e->args[1]);
        read_argv_slots(e, e->args[2]);
      }
      break;
    case 2: /* open(filename, flags, mode) */
      bpf_probe_read_user_str(e->str, sizeof(e->str), (void *)e->args[0]);
      break;
    case 257: /* openat(dfd, filename, flags, mode) */
    case 437: /* openat2(dfd, filename, how, size) */
      bpf_probe_read_user_str(e->str, sizeof(e->str), (void *)e->args[1]);
      break;
    case 42: { /* connect(fd, addr, addrlen) */
      __u64 len = e->args[2];
      if (len > CLAWOS_SOCKADDR_LEN) len = CLAWOS_SOCKADDR_LEN;
      bpf_probe_read_user(e->sockaddr, len & 31, (void *)e->args[1]);
      break;
    }
    case 165: /* mount(source, target, fstype, flags, data) */
      bpf_probe_read_user_str(e->str, sizeof(e->str), (void *)e->args[0]);
      bpf_probe_read_user_str(e->str2, sizeof(e->str2), (void *)e->args[1]);
      bpf_probe_read_user_str(e->argv, CLAWOS_ARGV_SLOT, (void *)e->args[2]);
      break;
    case 175: /* init_module(image, len, params) */
      bpf_probe_read_user_str(e->str, sizeof(e->str), (void *)e->args[2]);
      break;
    case 313: /* finit_module(fd, params, flags) */
      bpf_probe_read_user_str(e->str, sizeof(e->str), (void *)e->args[1]);
      break;
  }
}

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id) {
  int row = current_target();
  if (row < 0 || row >= CLAWOS_MAX_TARGETS) return 0;
  if (id < 0 || id >= CLAWOS_MAX_SYSCALLS) return 0;
  __u32 index = row;
  __u32 slot = index * CLAWOS_MAX_SYSCALLS + (__u32)id;
  __u64 *c = bpf_map_lookup_elem(&counts, &slot);
  if (c) *c += 1;
  __u8 *pol = bpf_map_lookup_elem(&syscall_policy, &slot);
  if (!pol || !*pol) return 0;
  __u8 policy = *pol;
  if (policy & CLAWOS_POL_KILL) {
    bpf_send_signal(9);
    struct clawos_target_stats *s = stats_of(index);
    if (s) s->kills++;
  }
  if (!(policy & CLAWOS_POL_DETAIL)) return 0;
  struct pending *p = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), 0,
                                           BPF_LOCAL_STORAGE_GET_F_CREATE);
  if (!p) return 0;
  struct clawos_event *e = &p->ev;
  fill_task(e, CLAWOS_EV_SYSCALL, index);
  e->nr = (__s32)id;
  e->policy = policy;
  e->ret = 0;
  e->args[0] = regs->di;
  e->args[1] = regs->si;
  e->args[2] = regs->dx;
  e->args[3] = regs->r10;
  e->args[4] = regs->r8;
  e->args[5] = regs->r9;
  e->str[0] = 0;
  e->str2[0] = 0;
  e->argv[0] = 0;
  e->argv_len = 0;
  e->argv_flat = 0;
  __builtin_memset(e->sockaddr, 0, sizeof(e->sockaddr));
  if (!(policy & CLAWOS_POL_AT_ENTRY)) {
    p->active = 1;
    return 0;
  }
  read_pointed(e, 0);
  struct clawos_target_stats *s = stats_of(index);
  if (bpf_ringbuf_output(&events, e, sizeof(*e), submit_flags())) {
    if (s) s->events_dropped++;
    return 0;
  }
  if (s) s->events_emitted++;
  return 0;
}

/* The exit of a detailed call: its result and the memory its arguments
 * point to, into the ring buffer. `nr` < 0 when the hook does not know it. */
static __always_inline int finish_call(int nr, long ret) {
  struct pending *p = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), 0, 0);
  if (!p || !p->active) return 0;
  if (nr >= 0 && p->ev.nr != nr) return 0;
  p->active = 0;
  p->ev.ret = ret;
  read_pointed(&p->ev, 1);
  __u32 index = p->ev.target;
  struct clawos_target_stats *s = stats_of(index);
  if (bpf_ringbuf_output(&events, &p->ev, sizeof(p->ev), submit_flags())) {
    if (s) s->events_dropped++;
    return 0;
  }
  if (s) s->events_emitted++;
  return 0;
}

/* The exit of every call of the host: used only when the per-call exit
 * tracepoints cannot be found (no tracefs). */
SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret) {
  return finish_call(-1, ret);
}

/* syscalls:sys_exit_<name>, attached by the daemon to the detailed calls
 * only, so a call nobody details runs one program (the entry's), not two. */
struct call_exit_ctx {
  __u64 common;
  int nr;
  int pad;
  long ret;
};

SEC("tracepoint")
int on_call_exit(struct call_exit_ctx *ctx) {
  return finish_call(ctx->nr, ctx->ret);
}

/* Process events of targets: reserved straight in the ring buffer. */
static __always_inline struct clawos_event *process_event(__u32 kind, __u32 *index) {
  int row = current_target();
  if (row < 0 || row >= CLAWOS_MAX_TARGETS) return 0;
  *index = row;
  struct clawos_target_stats *s = stats_of(*index);
  if (s) {
    if (kind == CLAWOS_EV_FORK) s->forks++;
    if (kind == CLAWOS_EV_EXEC) s->execs++;
  }
  struct clawos_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    if (s) s->events_dropped++;
    return 0;
  }
  if (s) s->events_emitted++;
  fill_task(e, kind, *index);
  e->nr = -1;
  e->policy = 0;
  e->ret = 0;
  e->child_pid = 0;
  e->exit_code = 0;
  e->str[0] = 0;
  e->str2[0] = 0;
  e->argv[0] = 0;
  e->argv_len = 0;
  e->argv_flat = 0;
  return e;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child) {
  __u32 index;
  struct clawos_event *e = process_event(CLAWOS_EV_FORK, &index);
  if (!e) return 0;
  e->child_pid = child->pid;
  bpf_ringbuf_submit(e, submit_flags());
  return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm) {
  /* A detailed execve in progress: its path and argv, while they are at hand. */
  struct pending *p = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), 0, 0);
  if (p && p->active && (p->ev.nr == 59 || p->ev.nr == 322)) {
    bpf_probe_read_kernel_str(p->ev.str, sizeof(p->ev.str), BPF_CORE_READ(bprm, filename));
    read_argv_area(&p->ev);
  }
  __u32 index;
  struct clawos_event *e = process_event(CLAWOS_EV_EXEC, &index);
  if (!e) return 0;
  bpf_probe_read_kernel_str(e->str, sizeof(e->str), BPF_CORE_READ(bprm, filename));
  read_argv_area(e);
  bpf_ringbuf_submit(e, submit_flags());
  return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *task) {
  if (task->pid != task->tgid) return 0; /* threads: only the process's end */
  __u32 index;
  struct clawos_event *e = process_event(CLAWOS_EV_EXIT, &index);
  if (!e) return 0;
  e->exit_code = (task->exit_code >> 8) & 0xff;
  bpf_ringbuf_submit(e, submit_flags());
  return 0;
}

/* A task changed cgroup (cgroup.procs, cgroup.threads): only the group
 * leader is reported, so every cached row is read again. */
SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(on_cgroup_attach, struct cgroup *dst, const char *path, struct task_struct *task,
             bool threadgroup) {
  __sync_fetch_and_add(&generation, 1);
  return 0;
}
