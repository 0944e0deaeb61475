// InstallSeccompFilter (steps.h): a classic-BPF denylist, x86-64 only.
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <vector>

#include "common/files.h"
#include "vm-launcher/jail/steps.h"

namespace clawos::jail {
namespace {

#if !defined(__x86_64__)
#error "the jail's seccomp filter is written for x86-64"
#endif

// Never needed by a VMM, wanted by whoever escapes into one.
constexpr int kDenied[] = {
    SYS_bpf,
    SYS_ptrace,
    SYS_process_vm_readv,
    SYS_process_vm_writev,
    SYS_perf_event_open,
    SYS_mount,
    SYS_umount2,
    SYS_pivot_root,
    SYS_chroot,
    SYS_unshare,
    SYS_setns,
    SYS_keyctl,
    SYS_add_key,
    SYS_request_key,
    SYS_userfaultfd,
    SYS_kexec_load,
    SYS_kexec_file_load,
    SYS_init_module,
    SYS_finit_module,
    SYS_delete_module,
    SYS_open_by_handle_at,
    SYS_name_to_handle_at,
    SYS_fsopen,
    SYS_fsconfig,
    SYS_fsmount,
    SYS_fspick,
    SYS_move_mount,
    SYS_open_tree,
    SYS_mount_setattr,
    SYS_swapon,
    SYS_swapoff,
    SYS_reboot,
    SYS_acct,
    SYS_iopl,
    SYS_ioperm,
    SYS_quotactl,
    SYS_syslog,
    SYS_settimeofday,
    SYS_clock_settime,
    SYS_adjtimex,
    SYS_clock_adjtime,
    SYS_vhangup,
    SYS_pidfd_getfd,
    SYS_io_uring_setup,
    SYS_personality,
    SYS_lookup_dcookie,
    SYS_setuid,
    SYS_setgid,
    SYS_setreuid,
    SYS_setregid,
    SYS_setresuid,
    SYS_setresgid,
    SYS_setgroups,
    SYS_setfsuid,
    SYS_setfsgid,
};

constexpr uint32_t kNamespaceFlags = CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |
                                     CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
constexpr uint32_t kX32Bit = 0x40000000;

sock_filter Stmt(uint16_t code, uint32_t k) { return BPF_STMT(code, k); }
sock_filter Jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) {
  return BPF_JUMP(code, k, jt, jf);
}

}  // namespace

absl::Status InstallSeccompFilter() {
  const uint32_t eperm = SECCOMP_RET_ERRNO | EPERM;
  std::vector<sock_filter> f = {
      Stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      Jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      Stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      Stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      Jump(BPF_JMP | BPF_JGE | BPF_K, kX32Bit, 0, 1),  // x32 numbers
      Stmt(BPF_RET | BPF_K, eperm),
      Jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1),
      Stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
      // clone: its first argument holds the flags.
      Jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 3),
      Stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0])),
      Jump(BPF_JMP | BPF_JSET | BPF_K, kNamespaceFlags, 0, 1),
      Stmt(BPF_RET | BPF_K, eperm),
  };
  // After the clone check the accumulator may hold clone's flags: reload nr.
  f.push_back(Stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
  for (int nr : kDenied) {
    f.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(nr), 0, 1));
    f.push_back(Stmt(BPF_RET | BPF_K, eperm));
  }
  f.push_back(Stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  sock_fprog prog{static_cast<unsigned short>(f.size()), f.data()};
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
    return ErrnoStatus(errno, "jail: installing the seccomp filter");
  }
  return absl::OkStatus();
}

}  // namespace clawos::jail
