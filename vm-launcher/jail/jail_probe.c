// jail_probe: a static test program started in exactly the jail a VM's VMM
// gets, in its place. It tries what an attacker who took over the VMM would
// try and prints one line per attempt, "probe <name> <result>": OK when the
// attempt succeeded, else the errno's name (or SELF for /proc/1 being the
// probe itself). Each attempt runs in its own child, so none changes the
// next. Arguments, all KEY=VALUE (host paths and pids to aim at):
//   db identity admin other_disk own_disk root_disk outside_file mount_dir
//   cgroup_dir tcp_port launcher_pid victim_pid, and skip=<name>,<name> for
//   attempts not to make (printed as SKIPPED).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int g_argc;
static char** g_argv;

static const char* Arg(const char* key) {
  size_t n = strlen(key);
  for (int i = 1; i < g_argc; ++i) {
    if (strncmp(g_argv[i], key, n) == 0 && g_argv[i][n] == '=') return g_argv[i] + n + 1;
  }
  return "";
}

// Each attempt returns 0 on success or an errno (-1: "SELF").
static int ReadDb(void) { return open(Arg("db"), O_RDONLY) >= 0 ? 0 : errno; }

static int ConnectUnix(const char* path) {
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  if (s < 0) return errno;
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  strncpy(a.sun_path, path, sizeof a.sun_path - 1);
  return connect(s, (struct sockaddr*)&a, sizeof a) == 0 ? 0 : errno;
}
static int ConnectIdentity(void) { return ConnectUnix(Arg("identity")); }
static int ConnectAdmin(void) { return ConnectUnix(Arg("admin")); }
static int OpenOtherDisk(void) { return open(Arg("other_disk"), O_RDWR) >= 0 ? 0 : errno; }

static int ExecShell(void) {
  pid_t p = fork();
  if (p < 0) return errno;
  if (p == 0) {
    char* argv[] = {"/bin/sh", "-c", "exit 200", NULL};
    execve(argv[0], argv, NULL);
    _exit(errno);
  }
  int st = 0;
  waitpid(p, &st, 0);
  return WIFEXITED(st) && WEXITSTATUS(st) == 200 ? 0 : WIFEXITED(st) ? WEXITSTATUS(st) : EINTR;
}

static int PtraceHost(void) {
  pid_t victim = atoi(Arg("victim_pid"));
  if (ptrace(PTRACE_SEIZE, victim, 0, 0) != 0) return errno;
  ptrace(PTRACE_DETACH, victim, 0, 0);
  return 0;
}

static int KillLauncher(void) { return kill(atoi(Arg("launcher_pid")), 0) == 0 ? 0 : errno; }

static int InetLoopback(void) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) return errno;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(Arg("tcp_port")))};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return connect(s, (struct sockaddr*)&a, sizeof a) == 0 ? 0 : errno;
}

static int Mount(void) {
  if (mount("none", Arg("mount_dir"), "tmpfs", 0, "size=1m") != 0) return errno;
  umount2(Arg("mount_dir"), MNT_DETACH);
  return 0;
}

static int SetUid0(void) { return setuid(0) == 0 ? 0 : errno; }

static int UsernsMount(void) {
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return errno;
  return mount("none", Arg("mount_dir"), "tmpfs", 0, "size=1m") == 0 ? 0 : errno;
}

static int WriteCgroup(void) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/clawos-jail-probe-%d", Arg("cgroup_dir"), (int)getpid());
  if (mkdir(dir, 0755) != 0) return errno;
  rmdir(dir);
  return 0;
}

static int ReadInitEnviron(void) {
  int fd = open("/proc/1/environ", O_RDONLY);
  if (fd < 0) return errno;
  char buf[8192];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  if (n < 0) return errno;
  buf[n] = 0;
  for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1) {
    if (strcmp(buf + i, "CLAWOS_JAIL_PROBE=1") == 0) return -1;  // pid 1 is the probe itself
  }
  return 0;
}

static int ReadHostEnviron(void) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%s/environ", Arg("victim_pid"));
  int fd = open(path, O_RDONLY);
  if (fd < 0) return errno;
  char buf[256];
  return read(fd, buf, sizeof buf) >= 0 ? 0 : errno;
}

static int LoadBpf(void) {
  struct bpf_insn prog[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0},
      {.code = BPF_JMP | BPF_EXIT},
  };
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  attr.insns = (unsigned long)prog;
  attr.insn_cnt = 2;
  attr.license = (unsigned long)"GPL";
  int fd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
  return fd >= 0 ? 0 : errno;
}

static int OpenKvm(void) { return open("/dev/kvm", O_RDWR) >= 0 ? 0 : errno; }
static int WriteRootDisk(void) { return open(Arg("root_disk"), O_WRONLY) >= 0 ? 0 : errno; }
static int WriteOutside(void) {
  return open(Arg("outside_file"), O_WRONLY | O_CREAT, 0600) >= 0 ? 0 : errno;
}
static int WriteJailRoot(void) {
  return open("/probe-was-here", O_WRONLY | O_CREAT, 0600) >= 0 ? 0 : errno;
}

// Positive controls: what the VMM must still be able to do.
static int WriteOwnDisk(void) {
  int fd = open(Arg("own_disk"), O_RDWR);
  if (fd < 0) return errno;
  return pwrite(fd, "x", 1, 4096) == 1 ? 0 : errno;
}
static int ReadUrandom(void) {
  char b[16];
  int fd = open("/dev/urandom", O_RDONLY);
  if (fd < 0) return errno;
  return read(fd, b, sizeof b) == (ssize_t)sizeof b ? 0 : errno;
}

struct Attempt {
  const char* name;
  int (*run)(void);
};

static const struct Attempt kAttempts[] = {
    {"read_launcher_db", ReadDb},
    {"connect_identity_sock", ConnectIdentity},
    {"connect_proxy_admin_sock", ConnectAdmin},
    {"open_other_vm_disk", OpenOtherDisk},
    {"exec_bin_sh", ExecShell},
    {"ptrace_host_process", PtraceHost},
    {"kill_launcher", KillLauncher},
    {"connect_tcp_loopback", InetLoopback},
    {"mount", Mount},
    {"setuid_0", SetUid0},
    {"unshare_user_then_mount", UsernsMount},
    {"write_sys_fs_cgroup", WriteCgroup},
    {"read_proc_1_environ", ReadInitEnviron},
    {"read_host_process_environ", ReadHostEnviron},
    {"load_bpf_program", LoadBpf},
    {"open_dev_kvm", OpenKvm},
    {"write_root_disk", WriteRootDisk},
    {"write_outside_workspace", WriteOutside},
    {"write_jail_root", WriteJailRoot},
    {"write_own_disk", WriteOwnDisk},
    {"read_dev_urandom", ReadUrandom},
};

static void PrintStatus(void) {
  FILE* f = fopen("/proc/self/status", "r");
  if (!f) {
    printf("probe status unreadable %s\n", strerrorname_np(errno));
    return;
  }
  char line[256];
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, "Uid:", 4) || !strncmp(line, "CapEff:", 7) || !strncmp(line, "CapBnd:", 7) ||
        !strncmp(line, "NoNewPrivs:", 11) || !strncmp(line, "Seccomp:", 8)) {
      printf("probe status %s", line);
    }
  }
  fclose(f);
}

int main(int argc, char** argv) {
  g_argc = argc;
  g_argv = argv;
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("probe pid %d\n", (int)getpid());
  PrintStatus();
  for (size_t i = 0; i < sizeof kAttempts / sizeof kAttempts[0]; ++i) {
    char skip[512];
    snprintf(skip, sizeof skip, ",%s,", Arg("skip"));
    char me[128];
    snprintf(me, sizeof me, ",%s,", kAttempts[i].name);
    if (strstr(skip, me)) {
      printf("probe %s SKIPPED\n", kAttempts[i].name);
      continue;
    }
    pid_t p = fork();
    if (p < 0) {
      printf("probe %s fork:%s\n", kAttempts[i].name, strerrorname_np(errno));
      continue;
    }
    if (p == 0) {
      int e = kAttempts[i].run();
      _exit(e < 0 ? 255 : e);
    }
    int st = 0;
    waitpid(p, &st, 0);
    const char* result = "CRASHED";
    if (WIFEXITED(st)) {
      int e = WEXITSTATUS(st);
      result = e == 0 ? "OK" : e == 255 ? "SELF" : strerrorname_np(e);
      if (!result) result = "UNKNOWN";
    }
    printf("probe %s %s\n", kAttempts[i].name, result);
  }
  printf("probe done\n");
  return 0;
}
