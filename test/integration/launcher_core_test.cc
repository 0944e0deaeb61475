// The launcher core against real boots of the built, signed guest image:
// import, create, start (agent-gated), stop, start again, delete; and every
// refusal with its reason.
#include "vm-launcher/launcher.h"
#include "vm-launcher/qemu_vmm.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status.h"
#include "common/testing/eventually.h"
#include "common/testing/flip_byte.h"
#include "common/testing/http_upstream.h"
#include "common/testing/temp_dir.h"
#include "common/testing/test_image.h"
#include "image/signing.h"
#include "test/integration/launcher_fixture.h"
#include "vm-launcher/agent_ops.h"
#include "vm-launcher/inference_tunnel.h"
#include "vm-launcher/qmp_client.h"

namespace clawos::launcher {
namespace {

class LauncherCoreTest : public LauncherFixture {};

TEST_F(LauncherCoreTest, CreateStartStopStartDelete) {
  ASSERT_TRUE(launcher_->ImportImage("agent", image_).ok());
  auto vm = launcher_->CreateVm(Spec("one"));
  ASSERT_TRUE(vm.ok()) << vm.status();
  EXPECT_EQ(vm->state, VmState::kStopped);
  std::string dir = launcher_->VmDir("one");
  EXPECT_TRUE(PathExists(dir + "/workspace.img"));

  auto running = launcher_->StartVm("one");
  ASSERT_TRUE(running.ok()) << running.status();
  EXPECT_EQ(running->state, VmState::kRunning);
  EXPECT_GT(running->pid, 0);
  EXPECT_GT(running->cgroup_id, 0u);
  EXPECT_TRUE(IsSameProcess(static_cast<pid_t>(running->pid), running->pid_start_time));
  EXPECT_FALSE(running->agent_version.empty());
  // QEMU runs in its jail: the VM's own uid, nothing of root, its own mounts.
  ASSERT_GE(running->jail_uid, 200000u);
  auto status = ReadFile(absl::StrCat("/proc/", running->pid, "/status"));
  ASSERT_TRUE(status.ok());
  for (const std::string& line :
       {absl::StrCat("Uid:\t", running->jail_uid, "\t", running->jail_uid),
        std::string("CapEff:\t0000000000000000"), std::string("CapBnd:\t0000000000000000"),
        std::string("NoNewPrivs:\t1"), std::string("Seccomp:\t2")}) {
    EXPECT_NE(status->find(line), std::string::npos) << line << " not in\n" << *status;
  }
  std::error_code ec;
  EXPECT_NE(std::filesystem::read_symlink(absl::StrCat("/proc/", running->pid, "/ns/mnt"), ec),
            std::filesystem::read_symlink("/proc/self/ns/mnt", ec));
  EXPECT_TRUE(PathExists(dir + "/vmm.pid"));
  EXPECT_EQ(launcher_->StartVm("one").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(launcher_->DeleteVm("one").code(), absl::StatusCode::kFailedPrecondition);

  // Exec, and a file round trip through /workspace.
  EXPECT_EQ(Exec("one", {"ls", "/sys/class/net"}).value_or("?"), "lo\n")
      << "no NIC unless BRIDGE is asked for";
  auto uname = Exec("one", {"uname", "-r"});
  ASSERT_TRUE(uname.ok()) << uname.status();
  EXPECT_NE(uname->find("cloud-amd64"), std::string::npos) << *uname;
  std::string content(700 * 1024, 'x');  // more than one chunk
  content += "end";
  ASSERT_TRUE(Put("one", "/workspace/notes/kept.txt", content).ok());
  EXPECT_EQ(Get("one", "/workspace/notes/kept.txt").value_or("?"), content);
  // A put whose content does not match its SHA-256 writes nothing.
  {
    auto agent = launcher_->Agent("one");
    ASSERT_TRUE(agent.ok());
    apb::FilePut put;
    put.set_path("/workspace/bad.txt");
    put.set_sha256(std::string(64, '0'));
    auto once = [](std::string* d, bool* eof) {
      *d = "content";
      *eof = true;
      return absl::OkStatus();
    };
    auto bad = PutFile(**agent, put, once, absl::Now() + absl::Seconds(30));
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss) << bad.status();
    EXPECT_EQ(Exec("one", {"ls", "-A", "/workspace"}).value_or("?"), "lost+found\nnotes\n")
        << "no file and no temporary left behind";
    put.set_sha256("");
    put.set_path("/workspace/notes/kept.txt");
    auto exists = PutFile(**agent, put, once, absl::Now() + absl::Seconds(30));
    EXPECT_EQ(exists.status().code(), absl::StatusCode::kAlreadyExists) << exists.status();
  }
  auto missing = Get("one", "/workspace/nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();

  auto stopped = launcher_->StopVm("one");
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(stopped->state, VmState::kStopped);
  EXPECT_FALSE(IsSameProcess(static_cast<pid_t>(running->pid), running->pid_start_time));
  EXPECT_TRUE(PathExists(dir + "/workspace.img")) << "the workspace survives a stop";
  EXPECT_FALSE(PathExists(dir + "/jail")) << "no jail directory is left after a stop";
  EXPECT_FALSE(PathExists(dir + "/vmm.pid"));

  auto again = launcher_->StartVm("one");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->jail_uid, running->jail_uid) << "a VM keeps its uid for life";
  EXPECT_EQ(Get("one", "/workspace/notes/kept.txt").value_or("?"), content)
      << "the workspace survives stop and start";
  ASSERT_TRUE(launcher_->StopVm("one").ok());
  // The logs outlive the run: the console and the agent's own lines (a VM
  // restored from a template has no boot on its console, only what came after).
  auto log = launcher_->Logs("one");
  ASSERT_TRUE(log.ok()) << log.status();
  bool console = false, agent = false;
  for (const LogRecord& r : (*log)->Read({})) {
    console |= r.source == LogSource::kConsole &&
               r.text.find("clawos-agent: welcomed as vms/one") != std::string::npos;
    agent |=
        r.source == LogSource::kAgent && r.text.find("welcomed as vms/one") != std::string::npos;
  }
  EXPECT_TRUE(console && agent) << "console " << console << ", agent " << agent;
  ASSERT_TRUE(launcher_->DeleteVm("one").ok());
  EXPECT_FALSE(PathExists(dir)) << "delete removes the disks";
  EXPECT_EQ(launcher_->GetVm("one").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(LauncherCoreTest, RestartAdoptsLiveVmsAndReportsDeadOnes) {
  ASSERT_TRUE(launcher_->ImportImage("agent", image_).ok());
  ASSERT_TRUE(launcher_->CreateVm(Spec("live")).ok());
  ASSERT_TRUE(launcher_->CreateVm(Spec("dies")).ok());
  auto live = launcher_->StartVm("live");
  ASSERT_TRUE(live.ok()) << live.status();
  auto dies = launcher_->StartVm("dies");
  ASSERT_TRUE(dies.ok()) << dies.status();
  launcher_.reset();  // the launcher goes away; its VMs keep running
  ::kill(static_cast<pid_t>(dies->pid), SIGKILL);
  ASSERT_TRUE(testing::Eventually([&] {
    return !IsSameProcess(static_cast<pid_t>(dies->pid), dies->pid_start_time);
  })) << "killed";

  auto reopened = Launcher::Open(Config(), RealClock::Get());
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  launcher_ = std::move(*reopened);
  auto a = launcher_->GetVm("live");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->state, VmState::kRunning) << "re-adopted by pid and start time";
  EXPECT_EQ(a->pid, live->pid);
  auto hostname = Exec("live", {"hostname"});
  EXPECT_EQ(hostname.value_or("?"), "live\n") << "the agent channel is made again";
  auto b = launcher_->GetVm("dies");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->state, VmState::kFailed);
  EXPECT_NE(b->reason.find("exited while the launcher was down"), std::string::npos) << b->reason;
  EXPECT_FALSE(PathExists(launcher_->RunDir("dies") + "/agent.sock"));
  // The adopted VM can still be stopped in order.
  auto stopped = launcher_->StopVm("live");
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_FALSE(IsSameProcess(static_cast<pid_t>(live->pid), live->pid_start_time));
}

TEST_F(LauncherCoreTest, RefusesBadRequestsWithReasons) {
  ASSERT_TRUE(launcher_->ImportImage("agent", image_).ok());
  EXPECT_EQ(launcher_->ImportImage("agent", image_).status().code(),
            absl::StatusCode::kAlreadyExists);
  VmSpec bad = Spec("Bad_Name");
  EXPECT_EQ(launcher_->CreateVm(bad).status().code(), absl::StatusCode::kInvalidArgument);
  VmSpec zero = Spec("zero");
  zero.memory_mib = 0;
  EXPECT_EQ(launcher_->CreateVm(zero).status().code(), absl::StatusCode::kInvalidArgument);
  VmSpec unknown = Spec("x");
  unknown.image = "nope";
  EXPECT_EQ(launcher_->CreateVm(unknown).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(launcher_->CreateVm(Spec("a")).ok());
  EXPECT_EQ(launcher_->CreateVm(Spec("a")).status().code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(launcher_->CreateVm(Spec("b")).ok());
  auto third = launcher_->CreateVm(Spec("c"));
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted) << "max VMs is 2";
  auto stop = launcher_->StopVm("a");
  ASSERT_TRUE(stop.ok()) << "stopping a stopped VM is not an error: " << stop.status();
  EXPECT_EQ(stop->state, VmState::kStopped);
  auto exec = launcher_->Agent("a");
  EXPECT_EQ(exec.status().code(), absl::StatusCode::kFailedPrecondition) << exec.status();
  EXPECT_NE(exec.status().message().find("it is STOPPED"), std::string::npos) << exec.status();
  EXPECT_EQ(launcher_->StartVm("ghost").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(launcher_->DeleteImage("agent").code(), absl::StatusCode::kFailedPrecondition)
      << "in use by a and b";
}

TEST_F(LauncherCoreTest, AStartWhoseJailCannotBeMadeFailsAndLeavesNothing) {
  ASSERT_TRUE(launcher_->ImportImage("agent", image_).ok());
  ASSERT_TRUE(launcher_->CreateVm(Spec("nodisk")).ok());
  std::string dir = launcher_->VmDir("nodisk");
  ASSERT_EQ(::unlink((dir + "/workspace.img").c_str()), 0);
  auto started = launcher_->StartVm("nodisk");
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.status().message().find("workspace.img"), std::string::npos)
      << started.status();
  auto vm = launcher_->GetVm("nodisk");
  ASSERT_TRUE(vm.ok());
  EXPECT_EQ(vm->state, VmState::kFailed);
  EXPECT_EQ(vm->failure, FailureKind::kHostSetup);
  EXPECT_FALSE(PathExists(dir + "/jail"));
  EXPECT_FALSE(PathExists(dir + "/vmm.pid"));
  EXPECT_FALSE(PathExists(CgroupPath("nodisk"))) << "the cgroup is rolled back";
}

// A gRPC caller's deadline or cancel ends the start it asked for: the boot
// is aborted, the VM is STOPPED (not broken), nothing of the run is left.
TEST_F(LauncherCoreTest, AStartWhoseCallerGivesUpEndsStoppedWithNothingLeft) {
  ASSERT_TRUE(launcher_->ImportImage("agent", image_).ok());
  ASSERT_TRUE(launcher_->CreateVm(Spec("late")).ok());
  StartOptions late;
  late.deadline = absl::Now();  // passed before the guest can answer
  StartOptions gone;
  gone.cancelled = [] { return true; };
  for (const auto& [options, code, why] :
       {std::tuple{late, absl::StatusCode::kDeadlineExceeded, "deadline passed"},
        std::tuple{gone, absl::StatusCode::kCancelled, "caller cancelled"}}) {
    auto started = launcher_->StartVm("late", options);
    EXPECT_EQ(started.status().code(), code) << started.status();
    auto vm = launcher_->GetVm("late");
    ASSERT_TRUE(vm.ok());
    EXPECT_EQ(vm->state, VmState::kStopped);
    EXPECT_NE(vm->reason.find(why), std::string::npos) << vm->reason;
    EXPECT_EQ(vm->pid, 0);
    EXPECT_FALSE(PathExists(CgroupPath("late")));
    EXPECT_FALSE(PathExists(launcher_->VmDir("late") + "/jail"));
  }
  auto started = launcher_->StartVm("late");
  ASSERT_TRUE(started.ok()) << started.status() << ": a start after them works";
}

TEST_F(LauncherCoreTest, MemoryPressureGateRefusesAStart) {
  ASSERT_TRUE(launcher_->ImportImage("agent", image_).ok());
  ASSERT_TRUE(launcher_->CreateVm(Spec("big")).ok());
  launcher_.reset();
  LauncherConfig c = Config();
  c.meminfo_path = dir_.Sub("meminfo");
  ASSERT_TRUE(
      WriteFileAtomic(c.meminfo_path, "MemTotal: 1000000 kB\nMemAvailable: 400000 kB\n", 0644)
          .ok());
  c.min_available_mib = 256;  // 390 MiB available - (256 + 128) needed < 256
  launcher_ = Launcher::Open(c, RealClock::Get()).value();
  auto start = launcher_->StartVm("big");
  EXPECT_EQ(start.status().code(), absl::StatusCode::kResourceExhausted) << start.status();
  EXPECT_NE(start.status().message().find("390 MiB available"), std::string::npos)
      << start.status();
  EXPECT_EQ(launcher_->GetVm("big")->state, VmState::kStopped) << "nothing was started";
}

TEST_F(LauncherCoreTest, RefusesUnsignedWrongKeyAndTamperedImages) {
  std::string copy = dir_.Sub("img");
  std::filesystem::copy(image_, copy, std::filesystem::copy_options::recursive);
  // Wrong key: signed by another key.
  ASSERT_TRUE(image::GenerateSigningKey(dir_.Sub("other")).ok());
  ASSERT_TRUE(
      image::SignImage(copy, image::LoadSigningKey(dir_.Sub("other/signing.key")).value()).ok());
  auto wrong = launcher_->ImportImage("wrong", copy);
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(wrong.status().message().find("wrong key"), std::string::npos) << wrong.status();
  // Unsigned.
  ::unlink((copy + "/manifest.sig").c_str());
  EXPECT_NE(launcher_->ImportImage("unsigned", copy).status().message().find("unsigned"),
            std::string::npos);
  // Tampered after import: the start is refused before anything boots.
  std::filesystem::copy_file(image_ + "/manifest.sig", copy + "/manifest.sig");
  ASSERT_TRUE(launcher_->ImportImage("agent", copy).ok());
  ASSERT_TRUE(launcher_->CreateVm(Spec("t")).ok());
  clawos::testing::FlipByte(copy + "/vmlinux", 4096);
  auto start = launcher_->StartVm("t");
  EXPECT_EQ(start.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(start.status().message().find("refusing to boot image agent: vmlinux file vmlinux"),
            std::string::npos)
      << start.status();
  EXPECT_EQ(launcher_->GetVm("t")->state, VmState::kStopped) << "nothing was started";
}

TEST_F(LauncherCoreTest, InferenceFromTheGuestReachesTheHostWithTheVmsToken) {
  clawos::testing::HttpUpstream proxy(
      {200,
       {{"Content-Type", "text/event-stream"}, {"x-request-id", "proxy-rid-7"}},
       {"data: {\"delta\":\"hel\"}\n\n", "data: {\"delta\":\"lo\"}\n\n", "data: [DONE]\n\n"}});
  const std::string kToken = "eyJ.jwt-for-inf.s3cr3t-token-value";
  auto tunnel = InferenceTunnel::Create(
      {proxy.url() + "/",
       [&](const std::string& vm, const std::string&) -> absl::StatusOr<std::string> {
         if (vm != "inf") return absl::NotFoundError("unknown vm");
         return kToken;
       }});
  ASSERT_TRUE(tunnel.ok()) << tunnel.status();
  launcher_.reset();
  LauncherConfig c = Config();
  c.on_inference = [t = *tunnel](const std::string& vm, const std::string& model,
                                 std::unique_ptr<AgentStream> s, apb::Frame f) {
    t->Handle(vm, model, std::move(s), std::move(f));
  };
  launcher_ = Launcher::Open(c, RealClock::Get()).value();
  ASSERT_TRUE(launcher_->ImportImage("agent", image_).ok());
  ASSERT_TRUE(launcher_->CreateVm(Spec("inf")).ok());
  auto vm = launcher_->StartVm("inf");
  ASSERT_TRUE(vm.ok()) << vm.status();

  // The guest calls its local endpoint, trying to pass its own credentials.
  auto out = Exec(
      "inf", {"wget", "-q", "-O", "-", "--header", "Authorization: Bearer stolen", "--header",
              "x-api-key: sk-guess", "--header", "x-clawos-vm: someone-else", "--post-data",
              "{\"model\":\"m\",\"stream\":true}", "http://127.0.0.1:11435/v1/chat/completions"});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "data: {\"delta\":\"hel\"}\n\ndata: {\"delta\":\"lo\"}\n\ndata: [DONE]\n\n");
  auto reqs = proxy.requests();
  ASSERT_EQ(reqs.size(), 1u);
  const auto& r = reqs[0];
  EXPECT_EQ(r.head.method, "POST");
  EXPECT_EQ(r.head.target, "/v1/chat/completions");
  EXPECT_EQ(r.head.Get("authorization"), "Bearer " + kToken) << "the VM's token, not the guest's";
  EXPECT_FALSE(r.head.Has("x-api-key")) << "guest credentials are dropped";
  EXPECT_FALSE(r.head.Has("x-clawos-vm")) << "the guest cannot speak for the host";
  EXPECT_FALSE(r.head.Get("x-request-id").empty());
  EXPECT_EQ(r.body, "{\"model\":\"m\",\"stream\":true}");

  // The token never enters the guest: not in its environment, command line or disks.
  auto env = Exec("inf", {"sh", "-c", "cat /proc/cmdline; env; cat /proc/1/environ"});
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->find("s3cr3t"), std::string::npos) << *env;
  ASSERT_TRUE(launcher_->StopVm("inf").ok());
  for (const char* disk : {"runtime.img", "workspace.img"}) {
    std::string bytes = ReadFile(launcher_->VmDir("inf") + "/" + disk).value_or("");
    EXPECT_FALSE(bytes.empty());
    EXPECT_EQ(bytes.find("s3cr3t-token-value"), std::string::npos) << disk;
  }
}

TEST_F(LauncherCoreTest, InferenceWithoutAProxyAnswersAClearError) {
  auto tunnel = InferenceTunnel::Create(
      {"http://127.0.0.1:1",
       [](const std::string&, const std::string&) -> absl::StatusOr<std::string> {
         return std::string("tok");
       }});
  ASSERT_TRUE(tunnel.ok());
  launcher_.reset();
  LauncherConfig c = Config();
  c.on_inference = [t = *tunnel](const std::string& vm, const std::string& model,
                                 std::unique_ptr<AgentStream> s, apb::Frame f) {
    t->Handle(vm, model, std::move(s), std::move(f));
  };
  launcher_ = Launcher::Open(c, RealClock::Get()).value();
  ASSERT_TRUE(launcher_->ImportImage("agent", image_).ok());
  ASSERT_TRUE(launcher_->CreateVm(Spec("noproxy")).ok());
  ASSERT_TRUE(launcher_->StartVm("noproxy").ok());
  auto out =
      Exec("noproxy", {"sh", "-c", "wget -S -O - http://127.0.0.1:11435/v1/models 2>&1; true"});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_NE(out->find("503"), std::string::npos) << *out;
}

TEST_F(LauncherCoreTest, IdleVmsStopAndSilentAgentsFail) {
  launcher_.reset();
  LauncherConfig c = Config();
  c.idle_timeout = absl::Seconds(3);
  // Pings wait as long as the interval: 2 s, so a slow answer on a loaded
  // machine is not three missed pings inside the idle window.
  c.health_interval = absl::Seconds(2);
  launcher_ = Launcher::Open(c, RealClock::Get()).value();
  ASSERT_TRUE(launcher_->ImportImage("agent", image_).ok());
  ASSERT_TRUE(launcher_->CreateVm(Spec("idle")).ok());
  ASSERT_TRUE(launcher_->StartVm("idle").ok());
  VmState state = VmState::kRunning;
  for (int i = 0; i < 200 && state == VmState::kRunning; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    state = launcher_->GetVm("idle")->state;
  }
  for (int i = 0; i < 100 && state == VmState::kStopping; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    state = launcher_->GetVm("idle")->state;
  }
  EXPECT_EQ(state, VmState::kStopped) << "stopped after 3 s without traffic";

  // A guest that stops answering (paused under QMP) fails the VM.
  launcher_.reset();
  c.idle_timeout = absl::ZeroDuration();
  launcher_ = Launcher::Open(c, RealClock::Get()).value();
  auto vm = launcher_->StartVm("idle");
  ASSERT_TRUE(vm.ok()) << vm.status();
  auto qmp = QmpClient::Connect(launcher_->RunDir("idle") + "/qmp.sock", absl::Seconds(5));
  ASSERT_TRUE(qmp.ok()) << qmp.status();
  ASSERT_TRUE(qmp->Execute("stop").ok());
  Vm now = *vm;
  for (int i = 0; i < 300 && now.state != VmState::kFailed; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    now = launcher_->GetVm("idle").value();
  }
  EXPECT_EQ(now.state, VmState::kFailed);
  EXPECT_EQ(now.failure, FailureKind::kAgentUnresponsive) << now.reason;
  EXPECT_FALSE(IsSameProcess(static_cast<pid_t>(vm->pid), vm->pid_start_time)) << "killed";
}

}  // namespace
}  // namespace clawos::launcher
