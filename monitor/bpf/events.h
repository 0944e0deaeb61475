/* Shared between monitor.bpf.c (kernel) and the loader (user space): the
 * event the kernel hands over through the ring buffer, the per-target
 * configuration and stats, and the policy bits. Fixed-width types only. */
#ifndef CLAWOS_MONITOR_BPF_EVENTS_H_
#define CLAWOS_MONITOR_BPF_EVENTS_H_

#define CLAWOS_MAX_TARGETS 128
#define CLAWOS_MAX_SYSCALLS 512
#define CLAWOS_STR_LEN 256
#define CLAWOS_ARGV_BYTES 512
#define CLAWOS_ARGV_SLOTS 8 /* argv_flat == 0: 8 strings of 64 bytes */
#define CLAWOS_ARGV_SLOT 64
#define CLAWOS_SOCKADDR_LEN 28

/* syscall_policy bits, per target and system call. */
#define CLAWOS_POL_DETAIL 1u /* make an event (at the call's exit) */
#define CLAWOS_POL_KILL 2u   /* SIGKILL the caller (enforcement) */
/* The call has no exit hook (no syscalls:sys_exit_<name> tracepoint): its
 * event is made at entry, without a return value. */
#define CLAWOS_POL_AT_ENTRY 4u

enum clawos_event_kind {
  CLAWOS_EV_SYSCALL = 1,
  CLAWOS_EV_FORK = 2,
  CLAWOS_EV_EXEC = 3,
  CLAWOS_EV_EXIT = 4,
};

struct clawos_target_cfg {
  __u32 index; /* row in the counts and policy arrays */
  __u32 flags;
};

struct clawos_target_stats {
  __u64 events_emitted;
  __u64 events_dropped;
  __u64 forks;
  __u64 execs;
  __u64 kills;
};

struct clawos_event {
  __u64 time_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
  __u32 kind;
  __u32 target;
  __u32 pid; /* thread group */
  __u32 tid;
  __u32 ppid;
  __u32 uid;
  char comm[16];
  __s32 nr;
  __u32 policy;
  __s64 ret;
  __u64 args[6];
  __s32 child_pid;
  __s32 exit_code;
  char str[CLAWOS_STR_LEN];  /* path, filename, mount source */
  char str2[CLAWOS_STR_LEN]; /* mount target, second path */
  /* argv_flat: the process's argument area (NUL-separated, argv_len bytes);
   * else CLAWOS_ARGV_SLOTS NUL-terminated strings of CLAWOS_ARGV_SLOT bytes. */
  char argv[CLAWOS_ARGV_BYTES];
  __u32 argv_len;
  __u32 argv_flat;
  __u8 sockaddr[CLAWOS_SOCKADDR_LEN];
};

#endif
