// The real clawos-vm-launcher driven through the `clawos` CLI and gRPC, with
// real QEMU boots of the built, signed image: the VM lifecycle with exec and
// files (a hostile guest's setuid, world-writable and wrongly sized files, and
// escape sequences on its console, included), kill -9 of the launcher and of a
// VMM, concurrent starts against the max-VMs guard, and bad requests with
// their codes.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "clawos/launcher/v1/launcher.grpc.pb.h"
#include "common/files.h"
#include "common/grpc_client.h"
#include "common/testing/eventually.h"
#include "common/testing/subprocess.h"
#include "common/testing/temp_dir.h"
#include "common/testing/test_image.h"

namespace clawos {
namespace {

namespace lpb = ::clawos::launcher::v1;
using testing::Daemon;
using testing::RunCommand;
using testing::RunResult;

const std::string kBin = CLAWOS_BIN_DIR;

class LauncherDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = testing::VmTestSkipReason(&image_); !why.empty()) GTEST_SKIP() << why;
    cgroup_parent_ = absl::StrCat("clawos-test-d", getpid());
    StartDaemon();
    RunResult r = Cli({"image", "import", image_, "--name", "agent"}, absl::Minutes(5));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  void TearDown() override {
    if (!daemon_) return;
    // Delete every VM (killing the running ones), then the daemon, then the cgroups.
    RunResult list = Cli({"vm", "list", "-o", "json"});
    auto j = nlohmann::json::parse(list.out, nullptr, false);
    if (j.is_object() && j.contains("vms")) {
      for (const auto& vm : j["vms"]) {
        Cli({"vm", "delete", "--force", vm.value("name", "")}, absl::Minutes(2));
      }
    }
    daemon_->Stop(SIGTERM);
    testing::RemoveCgroupParent(cgroup_parent_);
  }

  void StartDaemon(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {kBin + "/clawos-vm-launcher",
                                     "--state-dir",
                                     state(),
                                     "--listen",
                                     "unix:" + sock(),
                                     "--metrics-listen",
                                     "off",
                                     "--cgroup-parent",
                                     cgroup_parent_,
                                     "--max-vms",
                                     "3",
                                     "--accel",
                                     "tcg",
                                     "--health-interval",
                                     "2s",
                                     "--min-available-mib",
                                     "64"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    daemon_ = std::make_unique<Daemon>(
        argv, dir_.Sub("daemon.log"),
        std::map<std::string, std::string>{
            {"CLAWOS_SIGNING_PUBKEY", image_ + "/../guest-keys/signing.pub"}});
    ASSERT_TRUE(daemon_->WaitForFile(sock())) << daemon_->Log();
  }

  RunResult Cli(std::vector<std::string> args, absl::Duration timeout = absl::Seconds(60),
                const std::string& in = "") {
    args.insert(args.begin(), kBin + "/clawos");
    // No control plane here: the CLI talks gRPC to the launcher (--direct).
    return RunCommand(
        args, in, {{"CLAWOS_LAUNCHER_ADDR", "unix:" + sock()}, {"CLAWOS_DIRECT", "1"}}, timeout);
  }

  nlohmann::json Status(const std::string& vm) {
    RunResult r = Cli({"vm", "status", vm, "-o", "json"});
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    return j.is_object() ? j : nlohmann::json::object();
  }

  std::unique_ptr<lpb::LauncherService::Stub> Stub() {
    return lpb::LauncherService::NewStub(MakeChannel("unix:" + sock(), {}).value());
  }

  // `vm cp` out of a guest that made its files setuid and world-writable,
  // and whose files are not the size it declares: the copies are masked, a
  // wrong size leaves the destination as it was, no temporary file is left.
  void ExpectHostileFilesAreCopiedSafely(const std::string& vm) {
    RunResult mk = Cli({"vm", "exec", vm, "--", "sh", "-c",
                        "printf '#!/bin/sh\\necho hi\\n' > /workspace/suid && "
                        "cp /workspace/suid /workspace/open && "
                        "chmod 4777 /workspace/suid && chmod 0777 /workspace/open"});
    ASSERT_EQ(mk.exit_code, 0) << mk.err;
    mode_t mask = ::umask(022);
    ::umask(mask);
    std::string into = dir_.Sub("from-guest");
    ASSERT_TRUE(MakeDirs(into).ok());
    for (const std::string name : {"suid", "open"}) {
      RunResult cp = Cli({"vm", "cp", absl::StrCat(vm, ":/workspace/", name), into});
      ASSERT_EQ(cp.exit_code, 0) << cp.err;
      struct stat st {};
      ASSERT_EQ(::stat((into + "/" + name).c_str(), &st), 0) << name;
      EXPECT_EQ(st.st_mode & 07002, 0u) << name << ": no setuid/setgid/sticky/world-write";
      EXPECT_EQ(st.st_mode & 07777, 0777 & ~0002u & ~mask) << name << ": the umask applies";
      EXPECT_EQ(ReadFile(into + "/" + name).value_or(""), "#!/bin/sh\necho hi\n");
    }
    // /proc/version declares 0 bytes and sends more; a sysfs attribute
    // declares 4096 and sends fewer.
    ASSERT_TRUE(WriteFileAtomic(into + "/kept", "kept", 0640).ok());
    for (const char* path : {"/proc/version", "/sys/kernel/uevent_seqnum"}) {
      RunResult bad = Cli({"vm", "cp", absl::StrCat(vm, ":", path), into + "/kept"});
      EXPECT_EQ(bad.exit_code, 1) << path << ": " << bad.err;
      EXPECT_EQ(ReadFile(into + "/kept").value_or(""), "kept") << path;
    }
    std::vector<std::string> left;
    for (const auto& e : std::filesystem::directory_iterator(into)) {
      left.push_back(e.path().filename().string());
    }
    std::sort(left.begin(), left.end());
    EXPECT_EQ(left, (std::vector<std::string>{"kept", "open", "suid"})) << "no temporary file";
  }

  // A guest writes a window-title OSC, a clear-screen CSI and an 8-bit CSI
  // to its console: `vm logs` shows the line, never the control bytes.
  void ExpectGuestEscapesNeverReachTheTerminal(const std::string& vm) {
    RunResult w = Cli({"vm", "exec", vm, "--", "sh", "-c",
                       "printf 'hostile-line \\033]0;pwned\\007 \\033[2J \\302\\233"
                       "31m end-of-hostile\\n' > /dev/ttyS0"});
    ASSERT_EQ(w.exit_code, 0) << w.err;
    RunResult logs;
    EXPECT_TRUE(testing::Eventually([&] {
      logs = Cli({"vm", "logs", vm, "--source", "console"});
      return absl::StrContains(logs.out, "end-of-hostile");
    })) << logs.out
        << logs.err;
    EXPECT_TRUE(absl::StrContains(logs.out, "hostile-line")) << logs.out;
    EXPECT_EQ(logs.out.find('\x1b'), std::string::npos) << "ESC reached stdout";
    EXPECT_EQ(logs.out.find('\x07'), std::string::npos) << "BEL reached stdout";
    EXPECT_EQ(logs.out.find("\xc2\x9b"), std::string::npos) << "CSI (U+009B) reached stdout";
    RunResult json = Cli({"vm", "logs", vm, "--source", "console", "-o", "json"});
    EXPECT_TRUE(absl::StrContains(json.out, "end-of-hostile")) << json.out;
    EXPECT_EQ(json.out.find('\x1b'), std::string::npos) << "ESC reached stdout as JSON";
    EXPECT_EQ(json.out.find("\xc2\x9b"), std::string::npos) << "CSI reached stdout as JSON";
  }

  std::string state() const { return dir_.Sub("state"); }
  std::string sock() const { return dir_.Sub("launcher.sock"); }

  clawos::testing::TempDir dir_;
  std::string image_;
  std::string cgroup_parent_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(LauncherDaemonTest, LifecycleWithExecAndFiles) {
  RunResult start = Cli({"vm", "start", "w1", "--image", "agent"}, absl::Minutes(5));
  ASSERT_EQ(start.exit_code, 0) << start.err << daemon_->Log();
  EXPECT_TRUE(absl::StrContains(start.out, "vms/w1 RUNNING")) << start.out;
  EXPECT_TRUE(absl::StrContains(start.err, "RUNNING")) << "progress is shown: " << start.err;

  RunResult uname = Cli({"vm", "exec", "w1", "--", "uname", "-r"});
  ASSERT_EQ(uname.exit_code, 0) << uname.err;
  EXPECT_TRUE(absl::StrContains(uname.out, "cloud-amd64")) << uname.out;
  RunResult fails = Cli({"vm", "exec", "w1", "--", "sh", "-c", "echo oops >&2; exit 7"});
  EXPECT_EQ(fails.exit_code, 7) << "the command's exit code is the CLI's";
  EXPECT_EQ(fails.err, "oops\n");

  std::string local = dir_.Sub("in.bin");
  std::string content;
  for (int i = 0; i < 100000; ++i) content += absl::StrCat(i, "\n");
  ASSERT_TRUE(WriteFileAtomic(local, content, 0640).ok());
  RunResult put = Cli({"vm", "cp", local, "w1:/workspace/data/in.bin"});
  ASSERT_EQ(put.exit_code, 0) << put.err;
  RunResult get = Cli({"vm", "cp", "w1:/workspace/data/in.bin", dir_.Sub("out.bin")});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(ReadFile(dir_.Sub("out.bin")).value_or(""), content);
  ExpectHostileFilesAreCopiedSafely("w1");
  ExpectGuestEscapesNeverReachTheTerminal("w1");

  RunResult busy = Cli({"vm", "delete", "w1"});
  EXPECT_EQ(busy.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(busy.err, "FAILED_PRECONDITION")) << busy.err;

  ASSERT_EQ(Cli({"vm", "stop", "w1"}).exit_code, 0);
  EXPECT_EQ(Status("w1").value("state", ""), "STOPPED");
  // The first start restored w1 from its shape's template; this one boots,
  // so its console shows the boot.
  EXPECT_NE(Status("w1").value("template_id", ""), "") << "the first start was a restore";
  RunResult again = Cli({"vm", "start", "w1", "--cold"}, absl::Minutes(5));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_TRUE(absl::StrContains(again.out, ", booted)")) << again.out;
  EXPECT_EQ(Status("w1").value("template_id", ""), "") << "booted: no template";
  RunResult kept = Cli({"vm", "exec", "w1", "--", "sha256sum", "/workspace/data/in.bin"});
  ASSERT_EQ(kept.exit_code, 0) << kept.err;
  RunResult local_sum = RunCommand({"/usr/bin/sha256sum", local});
  EXPECT_EQ(kept.out.substr(0, 64), local_sum.out.substr(0, 64)) << "the workspace survives";

  RunResult logs = Cli({"vm", "logs", "w1", "--source", "console"});
  EXPECT_TRUE(absl::StrContains(logs.out, "root verified (dm-verity)")) << logs.out;

  ASSERT_EQ(Cli({"vm", "stop", "w1"}).exit_code, 0);
  std::string vm_dir = state() + "/vms/w1";
  ASSERT_TRUE(PathExists(vm_dir + "/workspace.img"));
  ASSERT_EQ(Cli({"vm", "delete", "w1"}).exit_code, 0);
  EXPECT_FALSE(PathExists(vm_dir)) << "delete removes the disks";
  RunResult gone = Cli({"vm", "status", "w1"});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(gone.err, "NOT_FOUND")) << gone.err;
}

TEST_F(LauncherDaemonTest, KillNineOfTheLauncherAndOfAVmm) {
  ASSERT_EQ(Cli({"vm", "start", "a", "--image", "agent"}, absl::Minutes(5)).exit_code, 0);
  ASSERT_EQ(Cli({"vm", "start", "b", "--image", "agent"}, absl::Minutes(5)).exit_code, 0);
  int pid_a = Status("a").value("pid", 0), pid_b = Status("b").value("pid", 0);
  ASSERT_GT(pid_a, 0);
  ASSERT_GT(pid_b, 0);

  daemon_->Stop(SIGKILL);
  StartDaemon();
  for (const char* vm : {"a", "b"}) {
    nlohmann::json s = Status(vm);
    EXPECT_EQ(s.value("state", ""), "RUNNING") << vm << ": " << s.dump();
    RunResult host = Cli({"vm", "exec", vm, "--", "hostname"});
    EXPECT_EQ(host.exit_code, 0) << vm << ": " << host.err;
    EXPECT_EQ(host.out, std::string(vm) + "\n") << "each VM has its own hostname";
  }
  EXPECT_EQ(Status("a").value("pid", 0), pid_a) << "the same VMM, not a new one";

  // A VMM killed under the launcher: the VM shows FAILED with the reason, cleaned up.
  std::string cgroup = Status("b").value("cgroup_path", "");
  ASSERT_FALSE(cgroup.empty());
  ASSERT_EQ(::kill(pid_b, SIGKILL), 0);
  nlohmann::json s;
  for (int i = 0; i < 100; ++i) {
    s = Status("b");
    if (s.value("state", "") == "FAILED") break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_EQ(s.value("state", ""), "FAILED") << s.dump();
  EXPECT_EQ(s["failure"].value("reason", ""), "VMM_EXITED") << s.dump();
  EXPECT_TRUE(testing::Eventually([&] { return !PathExists(cgroup); }))
      << "the VM's cgroup is removed";
  EXPECT_FALSE(PathExists(state() + "/vms/b/run/agent.sock"));
  EXPECT_EQ(Status("a").value("state", ""), "RUNNING") << "the other VM is untouched";
}

TEST_F(LauncherDaemonTest, ThreeConcurrentStartsAndTheMaxVmsGuard) {
  std::vector<std::future<RunResult>> starts;
  for (const char* vm : {"c1", "c2", "c3"}) {
    starts.push_back(std::async(std::launch::async, [this, vm] {
      return Cli({"vm", "start", vm, "--image", "agent"}, absl::Minutes(6));
    }));
  }
  for (auto& f : starts) {
    RunResult r = f.get();
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  RunResult list = Cli({"vm", "list", "--filter", "state=RUNNING", "-o", "json"});
  auto j = nlohmann::json::parse(list.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << list.out;
  EXPECT_EQ(j["vms"].size(), 3u) << list.out;
  RunResult fourth = Cli({"vm", "start", "c4", "--image", "agent"});
  EXPECT_EQ(fourth.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(fourth.err, "RESOURCE_EXHAUSTED")) << fourth.err;
  EXPECT_TRUE(absl::StrContains(fourth.err, "maximum of 3 VMs")) << fourth.err;
}

TEST_F(LauncherDaemonTest, EveryVmIsWatchedByTheMonitorFromItsStart) {
  Daemon monitor({kBin + "/clawos-monitor", "--state-dir", dir_.Sub("monitor"), "--listen",
                  "unix:" + dir_.Sub("monitor.sock"), "--metrics-listen", "off"},
                 dir_.Sub("monitor.log"));
  ASSERT_TRUE(monitor.WaitForFile(dir_.Sub("monitor.sock"))) << monitor.Log();
  daemon_->Stop(SIGTERM);
  StartDaemon({"--monitor", "unix:" + dir_.Sub("monitor.sock")});
  auto mon = [&](std::vector<std::string> args) {
    args.insert(args.begin(), kBin + "/clawos");
    return RunCommand(args, "", {{"CLAWOS_MONITOR_ADDR", "unix:" + dir_.Sub("monitor.sock")}});
  };
  ASSERT_EQ(Cli({"vm", "start", "m1", "--image", "agent"}, absl::Minutes(5)).exit_code, 0)
      << daemon_->Log();
  auto targets = mon({"-o", "json", "monitor", "targets"});
  auto t = nlohmann::json::parse(targets.out, nullptr, false);
  ASSERT_TRUE(t.is_object() && t.contains("targets")) << targets.out << targets.err;
  ASSERT_EQ(t["targets"].size(), 1u);
  EXPECT_EQ(t["targets"][0]["vm"], "vms/m1");
  EXPECT_EQ(t["targets"][0]["agent_subject"], "agents/m1");
  EXPECT_EQ(t["targets"][0]["state"], "ACTIVE");
  EXPECT_TRUE(absl::StrContains(t["targets"][0].value("cgroup_path", ""), cgroup_parent_ + "/m1"));
  // The VMM's own start (exec of qemu) was seen: it was watched before it ran.
  auto stats = mon({"-o", "json", "monitor", "stats"});
  auto st = nlohmann::json::parse(stats.out, nullptr, false);
  ASSERT_TRUE(st.is_object()) << stats.out << stats.err;
  EXPECT_NE(st["targets"][0].value("syscalls_total", "0"), "0") << stats.out;
  EXPECT_NE(st["targets"][0].value("execs", "0"), "0") << "the exec of QEMU: " << stats.out;
  ASSERT_EQ(Cli({"vm", "delete", "--force", "m1"}, absl::Minutes(2)).exit_code, 0);
  targets = mon({"-o", "json", "monitor", "targets"});
  EXPECT_EQ(targets.out.find("m1"), std::string::npos) << "deleted with the VM: " << targets.out;

  monitor.Stop(SIGTERM);  // no monitor: a VM must not start unwatched
  RunResult refused = Cli({"vm", "start", "m2", "--image", "agent"}, absl::Minutes(2));
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(refused.err + refused.out, "clawos-monitor"))
      << refused.err << refused.out;
}

// The launcher gives up a start with its caller. A VM the start created
// goes with it; one that existed is left STOPPED (before, the boot went on
// to RUNNING unasked).
TEST_F(LauncherDaemonTest, AStartPastItsCallersDeadlineIsAbandoned) {
  RunResult start = Cli({"vm", "start", "hasty", "--image", "agent", "--timeout", "1s"});
  EXPECT_NE(start.exit_code, 0) << start.out;
  EXPECT_TRUE(absl::StrContains(absl::AsciiStrToLower(start.err), "deadline")) << start.err;
  EXPECT_TRUE(testing::Eventually([&] { return Status("hasty").empty(); }))
      << "the VM this start created is deleted: " << Status("hasty").dump();
  EXPECT_FALSE(PathExists(state() + "/vms/hasty"));

  ASSERT_EQ(Cli({"vm", "start", "hasty", "--image", "agent"}, absl::Minutes(5)).exit_code, 0);
  ASSERT_EQ(Cli({"vm", "stop", "hasty"}).exit_code, 0);
  RunResult cut = Cli({"vm", "start", "hasty", "--cold", "--timeout", "1s"});
  EXPECT_NE(cut.exit_code, 0) << cut.out;
  std::string state;
  EXPECT_TRUE(testing::Eventually([&] {
    state = Status("hasty").value("state", "");
    return state == "STOPPED";
  })) << "the launcher went on with the start: "
      << state;
  nlohmann::json st = Status("hasty");
  EXPECT_TRUE(absl::StrContains(st.value("stop_reason", ""), "abandoned: the caller's deadline"))
      << st.dump();
  EXPECT_GE(st.value("jail_uid", 0u), 200000u) << "a uid of the jail range: " << st.dump();
  RunResult again = Cli({"vm", "start", "hasty"}, absl::Minutes(5));
  EXPECT_EQ(again.exit_code, 0) << again.err << ": a start after it works";
}

// `vm start NAME --model M` (the seed's own example) is one LaunchVm call:
// its phases are shown, the model is the VM's and the agent's default.
// Ctrl-C during the boot aborts it and deletes the VM the start created.
TEST_F(LauncherDaemonTest, VmStartIsOneCallWithItsModelAndCtrlCRollsItBack) {
  const std::string model = "claude-haiku-4-5-20251001";
  RunResult start = Cli({"vm", "start", "m1", "--model", model, "--mem", "256"}, absl::Minutes(5));
  ASSERT_EQ(start.exit_code, 0) << start.err << daemon_->Log();
  size_t at = 0;
  for (const char* phase :
       {"CREATING", "VERIFYING_IMAGE", "BOOTING", "WAITING_FOR_AGENT", "RUNNING"}) {
    size_t found = start.err.find(phase, at);
    EXPECT_NE(found, std::string::npos) << phase << " in order: " << start.err;
    if (found != std::string::npos) at = found;
  }
  EXPECT_EQ(Status("m1")["spec"].value("model", ""), model);
  RunResult env = Cli({"vm", "exec", "m1", "--", "sh", "-c", "echo $CLAWOS_MODEL"});
  EXPECT_EQ(env.out, model + "\n") << env.err;
  RunResult bad = Cli({"vm", "start", "m9", "--model", "no spaces allowed"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(bad.err, "INVALID_ARGUMENT")) << bad.err;

  Daemon cli({kBin + "/clawos", "vm", "start", "m2", "--cold"}, dir_.Sub("cli.log"),
             {{"CLAWOS_LAUNCHER_ADDR", "unix:" + sock()}, {"CLAWOS_DIRECT", "1"}});
  ASSERT_TRUE(cli.WaitForLog("BOOTING", 0, absl::Minutes(2))) << cli.Log();
  EXPECT_EQ(cli.Stop(SIGINT), 130);
  EXPECT_TRUE(absl::StrContains(cli.Log(), "interrupted")) << cli.Log();
  EXPECT_TRUE(testing::Eventually([&] { return Status("m2").empty(); }, absl::Seconds(60)))
      << "the interrupted start's VM is deleted: " << Status("m2").dump();
  EXPECT_FALSE(PathExists(state() + "/vms/m2"));
  EXPECT_EQ(Status("m1").value("state", ""), "RUNNING") << "other VMs are untouched";
}

TEST_F(LauncherDaemonTest, BadRequestsGetClearCodes) {
  auto stub = Stub();
  auto create = [&](const std::string& id, const std::string& image, int mem) {
    lpb::CreateVmRequest req;
    req.set_vm_id(id);
    req.mutable_spec()->set_image(image);
    req.mutable_spec()->set_memory_mib(mem);
    lpb::Vm vm;
    auto ctx = MakeClientContext();
    return stub->CreateVm(ctx.get(), req, &vm);
  };
  grpc::Status s = create("Bad_Name", "images/agent", 256);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "vm_id")) << s.error_message();
  s = create("zero", "images/agent", 0);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "memory_mib")) << s.error_message();
  s = create("lost", "images/nope", 256);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "no image named nope")) << s.error_message();
  ASSERT_TRUE(create("dup", "images/agent", 256).ok());
  s = create("dup", "images/agent", 256);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS) << s.error_message();

  RunResult exec = Cli({"vm", "exec", "dup", "--", "true"});
  EXPECT_EQ(exec.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(exec.err, "FAILED_PRECONDITION: cannot exec in VM dup: it is "))
      << exec.err;
  RunResult bad_filter = Cli({"vm", "list", "--filter", "colour=red"});
  EXPECT_TRUE(absl::StrContains(bad_filter.err, "INVALID_ARGUMENT: filter: unknown field"))
      << bad_filter.err;

  // An unsigned copy of the image is refused at import, with the reason.
  std::string copy = dir_.Sub("unsigned");
  std::filesystem::copy(image_, copy, std::filesystem::copy_options::recursive);
  std::filesystem::remove(copy + "/manifest.sig");
  RunResult imp = Cli({"image", "import", copy, "--name", "unsigned"});
  EXPECT_EQ(imp.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(imp.err, "FAILED_PRECONDITION")) << imp.err;
  EXPECT_TRUE(absl::StrContains(imp.err, "unsigned")) << imp.err;
}

}  // namespace
}  // namespace clawos
