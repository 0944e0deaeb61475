// BRIDGE network mode against real boots, entirely inside two network
// namespaces the test makes: "host" (the launcher's bridge, its egress filter
// and two servers on the bridge address) and "outside" (a server standing in
// for the internet and one on the cloud-metadata address 169.254.169.254).
// A VM reaches the proxy port and the outside (through NAT), and nothing
// else: not other host ports, not metadata, not another VM.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/process.h"
#include "common/status.h"
#include "common/testing/eventually.h"
#include "common/testing/subprocess.h"
#include "common/testing/temp_dir.h"
#include "image/signing.h"
#include "vm-launcher/agent_ops.h"
#include "vm-launcher/launcher.h"

namespace clawos::launcher {
namespace {

using clawos::testing::Daemon;

struct Ran {
  int code = -1;
  std::string out;
};

class LauncherNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* img = std::getenv("CLAWOS_TEST_IMAGE");
    if (!img || !PathExists(std::string(img) + "/manifest.sig")) {
      GTEST_SKIP() << "SKIPPED: no built and signed guest image (CLAWOS_TEST_IMAGE)";
    }
    if (geteuid() != 0) GTEST_SKIP() << "SKIPPED: needs root for namespaces and cgroups";
    for (const char* tool : {"/usr/sbin/nft", "/usr/sbin/ip", "/usr/sbin/bridge"}) {
      if (!PathExists(tool)) GTEST_SKIP() << "SKIPPED: " << tool << " is not installed";
    }
    image_ = img;
    id_ = std::to_string(getpid());
    host_ = "clawos-th" + id_;
    out_ = "clawos-to" + id_;
    for (const auto& cmd : std::vector<std::vector<std::string>>{
             {"ip", "netns", "add", host_},
             {"ip", "netns", "add", out_},
             {"ip", "-n", host_, "link", "set", "lo", "up"},
             {"ip", "-n", out_, "link", "set", "lo", "up"},
             {"ip", "-n", host_, "link", "add", "cvh" + id_, "type", "veth", "peer", "name",
              "cvo" + id_, "netns", out_},
             {"ip", "-n", host_, "addr", "add", "192.0.2.1/24", "dev", "cvh" + id_},
             {"ip", "-n", host_, "link", "set", "cvh" + id_, "up"},
             {"ip", "-n", out_, "addr", "add", "192.0.2.2/24", "dev", "cvo" + id_},
             {"ip", "-n", out_, "link", "set", "cvo" + id_, "up"},
             // The metadata address lives "outside" too, routed from the host side.
             {"ip", "-n", out_, "addr", "add", "169.254.169.254/32", "dev", "cvo" + id_},
             {"ip", "-n", host_, "route", "add", "169.254.0.0/16", "via", "192.0.2.2"},
         }) {
      auto r = RunChecked(cmd);
      ASSERT_TRUE(r.ok()) << r.status();
    }
    std::filesystem::create_directories(dir_.Sub("outside"));
    std::filesystem::create_directories(dir_.Sub("hostside"));
    ASSERT_TRUE(WriteFileAtomic(dir_.Sub("outside/hello.txt"), "outside\n", 0644).ok());
    outside_ = Serve(out_, "0.0.0.0", 80, "outside");

    LauncherConfig c;
    c.state_dir = dir_.Sub("state");
    c.cgroup_parent = "clawos-test-n" + id_;
    c.signing_pubkey = image::ParsePublicKey(image_ + "/../guest-keys/signing.pub").value();
    c.max_vms = 4;
    c.ready_timeout = absl::Seconds(120);
    BridgeConfig b;
    b.netns = host_;
    b.allowed_host_port = 11435;
    c.bridge = b;
    auto l = Launcher::Open(c, RealClock::Get());
    ASSERT_TRUE(l.ok()) << l.status();
    launcher_ = std::move(*l);
    // Two servers on the bridge address: the allowed (proxy) port and another.
    ASSERT_TRUE(WriteFileAtomic(dir_.Sub("hostside/ok.txt"), "host\n", 0644).ok());
    proxy_ = Serve(host_, "10.88.0.1", 11435, "hostside");
    other_ = Serve(host_, "10.88.0.1", 8081, "hostside");
    ASSERT_TRUE(launcher_->ImportImage("agent", image_).ok());
  }

  void TearDown() override {
    if (launcher_) {
      for (const Vm& vm : launcher_->ListVms())
        launcher_->DeleteVm(vm.spec.name, true).IgnoreError();
      launcher_.reset();
    }
    proxy_.reset();
    other_.reset();
    outside_.reset();
    if (!host_.empty()) {
      RunProcess({"ip", "netns", "del", host_}).IgnoreError();
      RunProcess({"ip", "netns", "del", out_}).IgnoreError();
    }
    for (const char* h : {"/unified", "/memory", "/cpu", "/pids", ""}) {
      ::rmdir(absl::StrCat("/sys/fs/cgroup", h, "/clawos-test-n", id_).c_str());
    }
  }

  std::unique_ptr<Daemon> Serve(const std::string& ns, const std::string& addr, int port,
                                const std::string& sub) {
    auto d = std::make_unique<Daemon>(
        std::vector<std::string>{"/usr/sbin/ip", "netns", "exec", ns, "python3", "-u", "-m",
                                 "http.server", std::to_string(port), "--bind", addr, "--directory",
                                 dir_.Sub(sub)},
        dir_.Sub(absl::StrCat("server-", port, "-", ns, ".log")));
    // http.server says "Serving HTTP on ..." once it is bound (-u: unbuffered).
    EXPECT_TRUE(d->WaitForLog("Serving HTTP")) << d->Log();
    return d;
  }

  VmSpec Spec(const std::string& name) {
    VmSpec s;
    s.name = name;
    s.image = "agent";
    s.runtime_disk_mib = 32;
    s.workspace_disk_mib = 32;
    s.network = "bridge";
    return s;
  }

  Ran Run(const std::string& vm, std::vector<std::string> argv) {
    Ran ran;
    auto agent = launcher_->Agent(vm);
    auto r = agent.ok() ? ExecCollect(**agent, argv, absl::Now() + absl::Seconds(60))
                        : absl::StatusOr<ExecOutput>(agent.status());
    if (!r.ok()) {
      ran.out = r.status().ToString();
      return ran;
    }
    ran.code = r->exit.exit_code();
    ran.out = r->out;
    return ran;
  }
  // A fetch that should work gets 20 s inside a TCG guest; one that should
  // be dropped gets 4 (a drop is only ever seen as the timeout).
  Ran Fetch(const std::string& vm, const std::string& url, int timeout_s = 20) {
    // busybox's own wget -T crashes (static build); `timeout` bounds it instead.
    return Run(vm, {"timeout", std::to_string(timeout_s), "wget", "-q", "-O", "-", url});
  }
  Ran Refused(const std::string& vm, const std::string& url) { return Fetch(vm, url, 4); }

  clawos::testing::TempDir dir_;
  std::string image_, id_, host_, out_;
  std::unique_ptr<Launcher> launcher_;
  std::unique_ptr<Daemon> proxy_, other_, outside_;
};

TEST_F(LauncherNetworkTest, EgressIsFilteredAndVmsAreIsolated) {
  ASSERT_TRUE(launcher_->CreateVm(Spec("n1")).ok());
  ASSERT_TRUE(launcher_->CreateVm(Spec("n2")).ok());
  auto n1 = launcher_->StartVm("n1");
  ASSERT_TRUE(n1.ok()) << n1.status();
  auto n2 = launcher_->StartVm("n2");
  ASSERT_TRUE(n2.ok()) << n2.status();
  EXPECT_EQ(n1->net_slot, 0);
  EXPECT_EQ(n2->net_slot, 1);

  Ran addr = Run("n1", {"ip", "-4", "addr", "show", "eth0"});
  EXPECT_NE(addr.out.find("10.88.0.10/24"), std::string::npos) << addr.out;

  Ran proxy = Fetch("n1", "http://10.88.0.1:11435/ok.txt");
  EXPECT_EQ(proxy.code, 0) << proxy.out;
  EXPECT_EQ(proxy.out, "host\n") << "the proxy port on the bridge address is allowed";
  Ran other = Refused("n1", "http://10.88.0.1:8081/ok.txt");
  EXPECT_NE(other.code, 0) << "other host ports are not: " << other.out;

  Ran outside = Fetch("n1", "http://192.0.2.2/hello.txt");
  EXPECT_EQ(outside.code, 0);
  EXPECT_EQ(outside.out, "outside\n") << "egress through NAT works";
  EXPECT_NE(outside_->Log().find("192.0.2.1 "), std::string::npos)
      << "the outside sees the host's address (masquerade):\n"
      << outside_->Log();
  Ran meta = Refused("n1", "http://169.254.169.254/hello.txt");
  EXPECT_NE(meta.code, 0) << "metadata is dropped even though a route exists: " << meta.out;

  // n2 serves; it can fetch from itself, n1 cannot reach it.
  ASSERT_EQ(Run("n2", {"sh", "-c", "echo peer > /tmp/x.txt && httpd -p 8000 -h /tmp"}).code, 0);
  Ran self = Fetch("n2", "http://127.0.0.1:8000/x.txt");
  EXPECT_EQ(self.out, "peer\n") << "control: the server in n2 works";
  Ran peer = Refused("n1", "http://10.88.0.11:8000/x.txt");
  EXPECT_NE(peer.code, 0) << "VM to VM is blocked: " << peer.out;

  ASSERT_TRUE(launcher_->StopVm("n1").ok());
  auto tap = RunProcess({"ip", "-n", host_, "link", "show", "clawtap0"});
  ASSERT_TRUE(tap.ok());
  EXPECT_NE(tap->exit_code, 0) << "the stopped VM's tap is removed";
}

}  // namespace
}  // namespace clawos::launcher
