// The jail, proven with a probe (jail_probe.c) started by the real
// clawos-jailer in a VM's jail in place of its VMM: every escape attempt
// fails with the errno named here, while the same probe run unjailed as root
// succeeds at each (so no attempt is one that could not have worked), and the
// jailed probe can still do what a VMM must (its own disk, /dev/urandom).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/process.h"
#include "common/testing/temp_dir.h"
#include "gtest/gtest.h"
#include "vm-launcher/cgroup.h"
#include "vm-launcher/jail/jail_spec.h"

namespace clawos::jail {
namespace {

constexpr uint32_t kUid = 265000;  // inside the launcher's default range, used by no VM here

int ListenUnix(const std::string& path) {
  int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  EXPECT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(::listen(s, 8), 0);
  return s;
}

int ListenTcp(int* port) {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  EXPECT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(::listen(s, 8), 0);
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return s;
}

std::map<std::string, std::string> ParseProbe(const std::string& out) {
  std::map<std::string, std::string> r;
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits(' ', 2));
    if (f.size() == 3 && f[0] == "probe" && f[1] != "pid" && f[1] != "status") r[f[1]] = f[2];
  }
  return r;
}

class JailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "SKIPPED: the jail needs root (namespaces, mounts)";
    std::string d = dir_.path();
    for (const char* sub :
         {"state/vms/me/jail", "state/vms/other", "image", "run", "mnt", "outside"}) {
      std::filesystem::create_directories(d + "/" + sub);
    }
    std::ofstream(d + "/state/launcher.db") << "SQLite format 3";
    std::ofstream(d + "/state/vms/other/workspace.img") << "other";
    std::ofstream(d + "/state/vms/me/workspace.img") << std::string(8192, '\0');
    std::ofstream(d + "/image/root.img") << "root";
    ASSERT_EQ(::chown((d + "/state/vms/me/workspace.img").c_str(), kUid, kUid), 0);
    ::chmod((d + "/image/root.img").c_str(), 0644);
    unix_.push_back(ListenUnix(d + "/run/identity.sock"));
    unix_.push_back(ListenUnix(d + "/run/admin.sock"));
    tcp_ = ListenTcp(&port_);
    victim_ = ::fork();
    if (victim_ == 0) {
      ::pause();
      ::_exit(0);
    }
    auto layout = launcher::DetectCgroupLayout();
    cgroup_dir_ = layout.ok() && *layout == launcher::CgroupLayout::kHybrid
                      ? "/sys/fs/cgroup/unified"
                      : "/sys/fs/cgroup";
  }
  void TearDown() override {
    for (int s : unix_) ::close(s);
    if (tcp_ >= 0) ::close(tcp_);
    if (victim_ > 0) {
      ::kill(victim_, SIGKILL);
      ::waitpid(victim_, nullptr, 0);
    }
  }

  // The jail a VM gets (the launcher's layout), with the probe as its program.
  JailSpec VmLikeSpec() const {
    std::string d = dir_.path();
    JailSpec s;
    s.root = d + "/state/vms/me/jail";
    s.uid = s.gid = kUid;
    s.mounts = {{PROBE_PATH, "/vmm/probe", false, true, false},
                {d + "/image/root.img", "/vm/root.img", false, false, false},
                {d + "/state/vms/me/workspace.img", "/vm/workspace.img", true, false, false},
                {"/dev/null", "/dev/null", true, false, true},
                {"/dev/urandom", "/dev/urandom", true, false, true}};
    s.env = {"CLAWOS_JAIL_PROBE=1"};
    s.argv = {"/vmm/probe"};
    return s;
  }

  std::vector<std::string> ProbeArgs(const std::string& own_disk, const std::string& root_disk,
                                     const std::string& skip) const {
    std::string d = dir_.path();
    return {absl::StrCat("db=", d, "/state/launcher.db"),
            absl::StrCat("identity=", d, "/run/identity.sock"),
            absl::StrCat("admin=", d, "/run/admin.sock"),
            absl::StrCat("other_disk=", d, "/state/vms/other/workspace.img"),
            absl::StrCat("own_disk=", own_disk),
            absl::StrCat("root_disk=", root_disk),
            absl::StrCat("outside_file=", d, "/outside/written"),
            absl::StrCat("mount_dir=", d, "/mnt"),
            absl::StrCat("cgroup_dir=", cgroup_dir_),
            absl::StrCat("tcp_port=", port_),
            absl::StrCat("launcher_pid=", ::getpid()),
            absl::StrCat("victim_pid=", victim_),
            absl::StrCat("skip=", skip)};
  }

  absl::StatusOr<ProcessResult> RunJailer(const JailSpec& spec) const {
    std::vector<std::string> argv = {JAILER_PATH};
    for (auto& a : JailArgs(spec)) argv.push_back(a);
    ProcessOptions o;
    o.timeout = absl::Seconds(60);
    return RunProcess(argv, o);
  }

  testing::TempDir dir_;
  std::vector<int> unix_;
  int tcp_ = -1;
  int port_ = 0;
  pid_t victim_ = 0;
  std::string cgroup_dir_;
};

TEST_F(JailTest, EveryEscapeAttemptFailsAndTheSameProbeUnjailedSucceeds) {
  std::string d = dir_.path();
  JailSpec spec = VmLikeSpec();
  for (auto& a : ProbeArgs("/vm/workspace.img", "/vm/root.img", "")) spec.argv.push_back(a);
  auto jailed = RunJailer(spec);
  ASSERT_TRUE(jailed.ok()) << jailed.status();
  ASSERT_EQ(jailed->exit_code, 0) << jailed->err;
  ASSERT_NE(jailed->out.find("probe done"), std::string::npos) << jailed->out << jailed->err;
  auto in = ParseProbe(jailed->out);

  // Unjailed, as root, as QEMU runs on today's main. Never the jail root write.
  std::vector<std::string> argv = {PROBE_PATH};
  for (auto& a :
       ProbeArgs(d + "/state/vms/me/workspace.img", d + "/image/root.img", "write_jail_root")) {
    argv.push_back(a);
  }
  auto plain = RunProcess(argv, {});
  ASSERT_TRUE(plain.ok()) << plain.status();
  auto out = ParseProbe(plain->out);

  const bool kvm = PathExists("/dev/kvm");
  // Attempt → the errno names allowed jailed (Landlock may answer before routing).
  const std::map<std::string, std::set<std::string>> expected = {
      {"read_launcher_db", {"ENOENT"}},
      {"connect_identity_sock", {"ENOENT"}},
      {"connect_proxy_admin_sock", {"ENOENT"}},
      {"open_other_vm_disk", {"ENOENT"}},
      {"exec_bin_sh", {"ENOENT"}},
      {"ptrace_host_process", {"EPERM"}},
      {"kill_launcher", {"ESRCH"}},
      {"connect_tcp_loopback", {"EACCES", "ENETUNREACH"}},
      {"mount", {"EPERM"}},
      {"setuid_0", {"EPERM"}},
      {"unshare_user_then_mount", {"EPERM"}},
      {"write_sys_fs_cgroup", {"ENOENT"}},
      {"read_proc_1_environ", {"SELF"}},
      {"read_host_process_environ", {"ENOENT"}},
      {"load_bpf_program", {"EPERM"}},
      {"open_dev_kvm", {"ENOENT"}},
      {"write_root_disk", {"EROFS", "EACCES"}},
      {"write_outside_workspace", {"ENOENT"}},
      {"write_jail_root", {"EROFS"}},
      {"write_own_disk", {"OK"}},
      {"read_dev_urandom", {"OK"}},
  };
  std::printf("%-26s %-12s %s\n", "attempt", "jailed", "unjailed (root)");
  for (const auto& [name, allowed] : expected) {
    std::printf("%-26s %-12s %s\n", name.c_str(), in[name].c_str(), out[name].c_str());
    EXPECT_TRUE(allowed.count(in[name])) << name << " jailed: " << in[name];
    if (name == "write_jail_root") continue;
    // Host init's environ may be closed to root itself (it is on these
    // machines); read_host_process_environ is the control.
    if (name == "read_proc_1_environ") continue;
    if (name == "open_dev_kvm" && !kvm) continue;  // nothing to open on this host
    EXPECT_EQ(out[name], "OK") << name << " unjailed: the attempt itself does not work";
  }
  EXPECT_EQ(in.size(), expected.size()) << jailed->out;
}

TEST_F(JailTest, TheProgramRunsUnprivilegedAndConfined) {
  JailSpec spec = VmLikeSpec();
  auto r = RunJailer(spec);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->exit_code, 0) << r->err;
  std::map<std::string, std::string> status;
  for (absl::string_view line : absl::StrSplit(r->out, '\n')) {
    std::vector<std::string> f = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (f.size() >= 4 && f[0] == "probe" && f[1] == "status") status[f[2]] = f[3];
  }
  EXPECT_EQ(status["Uid:"], absl::StrCat(kUid));
  EXPECT_EQ(status["CapEff:"], "0000000000000000");
  EXPECT_EQ(status["CapBnd:"], "0000000000000000");
  EXPECT_EQ(status["NoNewPrivs:"], "1");
  EXPECT_EQ(status["Seccomp:"], "2");
  EXPECT_NE(r->out.find("probe pid 1\n"), std::string::npos) << r->out;
  // The jail's tree lived in the program's mount namespace only: the host
  // sees an empty directory and no mount on it.
  EXPECT_TRUE(std::filesystem::is_empty(spec.root));
  auto mounts = ReadFile("/proc/self/mountinfo");
  ASSERT_TRUE(mounts.ok());
  EXPECT_EQ(mounts->find(spec.root), std::string::npos);
}

TEST_F(JailTest, AFailingStepIsNamedAndNothingRuns) {
  JailSpec spec = VmLikeSpec();
  spec.mounts.push_back({dir_.Sub("no-such-disk"), "/vm/extra.img", false, false, false});
  auto r = RunJailer(spec);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 1);
  EXPECT_NE(r->err.find("jail: mount source " + dir_.Sub("no-such-disk")), std::string::npos)
      << r->err;
  EXPECT_EQ(r->out.find("probe"), std::string::npos);

  spec = VmLikeSpec();
  spec.argv = {"/vmm/not-there"};
  r = RunJailer(spec);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 1);
  EXPECT_NE(r->err.find("jail: executing /vmm/not-there"), std::string::npos) << r->err;

  spec = VmLikeSpec();
  spec.uid = 0;
  r = RunJailer(spec);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_NE(r->err.find("--uid and --gid must not be 0"), std::string::npos) << r->err;
}

TEST(JailSpecTest, FlagsRoundTripAndBadSpecsAreRefused) {
  JailSpec s;
  s.root = "/var/lib/clawos/launcher/vms/a/jail";
  s.uid = 200001;
  s.gid = 200001;
  s.mounts = {{"/usr/bin/qemu-system-x86_64", "/usr/bin/qemu-system-x86_64", false, true, false},
              {"/x/ws.img", "/vm/ws.img", true, false, false},
              {"/dev/kvm", "/dev/kvm", true, false, true}};
  s.netns = "/run/netns/clawos";
  s.nofile = 4096;
  s.keep_fds = {3, 5};
  s.env = {"A=b"};
  s.argv = {"/usr/bin/qemu-system-x86_64", "-nodefaults", "--", "--root"};
  auto back = ParseJailArgs(JailArgs(s));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(JailArgs(*back), JailArgs(s));
  EXPECT_EQ(back->argv, s.argv);

  auto bad = [](std::vector<std::string> args) {
    return std::string(ParseJailArgs(args).status().message());
  };
  EXPECT_NE(bad({"--root", "/j", "--uid", "5", "--gid", "5", "--ro", "/a", "/proc/x", "--", "/p"})
                .find("bad mount target"),
            std::string::npos);
  EXPECT_NE(bad({"--root", "/j", "--uid", "5", "--gid", "5", "--ro", "/a/../etc", "/a", "--", "/p"})
                .find("bad mount source"),
            std::string::npos);
  EXPECT_NE(bad({"--root", "/", "--uid", "5", "--gid", "5", "--", "/p"}).find("--root"),
            std::string::npos);
  EXPECT_NE(bad({"--root", "/j", "--uid", "5", "--gid", "5", "--frob"}).find("unknown flag"),
            std::string::npos);
  EXPECT_NE(bad({"--root", "/j", "--uid", "5", "--gid", "5", "--", "p"}).find("absolute path"),
            std::string::npos);
  EXPECT_NE(bad({"--root", "/j", "--uid"}).find("needs a value"), std::string::npos);
}

}  // namespace
}  // namespace clawos::jail
