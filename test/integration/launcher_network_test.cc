// BRIDGE network mode against real boots, entirely inside two network
// namespaces the test makes: "host" (the launcher's bridge, its egress filter
// and two servers on the bridge address) and "outside" (a server standing in
// for the internet, also answering on the cloud-metadata addresses
// 169.254.169.254 and fd00:ec2::254 and on a private 10.99.0.2).
// A VM reaches the proxy port and the outside (through NAT), and nothing
// else: not other host ports, not metadata, not private ranges, not another
// VM, not with another VM's address or MAC, and nothing at all over IPv6,
// although the host side has IPv6 addresses, routes and forwarding on.
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
#include "vm-launcher/network.h"

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
             // A private (RFC 1918) destination, routed the same way.
             {"ip", "-n", out_, "addr", "add", "10.99.0.2/32", "dev", "cvo" + id_},
             {"ip", "-n", host_, "route", "add", "10.99.0.0/16", "via", "192.0.2.2"},
             // IPv6 between the two, metadata (AWS's fd00:ec2::254) outside,
             // and forwarding on in "host": only the filter keeps VMs out.
             {"ip", "-n", host_, "addr", "add", "2001:db8:1::1/64", "dev", "cvh" + id_, "nodad"},
             {"ip", "-n", out_, "addr", "add", "2001:db8:1::2/64", "dev", "cvo" + id_, "nodad"},
             {"ip", "-n", out_, "addr", "add", "fd00:ec2::254/128", "dev", "cvo" + id_},
             {"ip", "-n", host_, "route", "add", "fd00:ec2::/64", "via", "2001:db8:1::2"},
             {"ip", "-n", out_, "route", "add", "fd88::/64", "via", "2001:db8:1::1"},
             {"ip", "netns", "exec", host_, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"},
         }) {
      auto r = RunChecked(cmd);
      ASSERT_TRUE(r.ok()) << r.status();
    }
    std::filesystem::create_directories(dir_.Sub("outside"));
    std::filesystem::create_directories(dir_.Sub("hostside"));
    ASSERT_TRUE(WriteFileAtomic(dir_.Sub("outside/hello.txt"), "outside\n", 0644).ok());
    outside_ = Serve(out_, "0.0.0.0", 80, "outside");
    outside6_ = Serve(out_, "::", 8080, "outside");

    LauncherConfig c;
    c.jailer = CLAWOS_BIN_DIR "/clawos-jailer";
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
    outside6_.reset();
    proxy6_.reset();
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

  // Prints "in|out MAC" for each IPv6 frame seen on `dev` in "host" (an
  // AF_PACKET socket for `ethertype`); returns once it listens.
  std::unique_ptr<Daemon> Sniff(const std::string& dev, int ethertype) {
    const std::string script = dir_.Sub("sniff.py");
    EXPECT_TRUE(WriteFileAtomic(script, R"(import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(int(sys.argv[2])))
s.bind((sys.argv[1], 0))
print("listening", flush=True)
while True:
    frame, addr = s.recvfrom(65535)
    if frame[12:14] == b"\x86\xdd":
        print("out" if addr[2] == socket.PACKET_OUTGOING else "in", frame[6:12].hex(":"), flush=True)
)",
                                0644)
                    .ok());
    auto d = std::make_unique<Daemon>(
        std::vector<std::string>{"/usr/sbin/ip", "netns", "exec", host_, "python3", "-u", script,
                                 dev, std::to_string(ethertype)},
        dir_.Sub("sniff-" + dev + ".log"));
    EXPECT_TRUE(d->WaitForLog("listening")) << d->Log();
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
  std::unique_ptr<Daemon> proxy_, other_, outside_, outside6_, proxy6_;
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
  Ran priv = Refused("n1", "http://10.99.0.2/hello.txt");
  EXPECT_NE(priv.code, 0) << "private ranges are dropped even though a route exists: " << priv.out;

  // n2 serves; it can fetch from itself, n1 cannot reach it.
  ASSERT_EQ(Run("n2", {"sh", "-c", "echo peer > /tmp/x.txt && httpd -p 8000 -h /tmp"}).code, 0);
  Ran self = Fetch("n2", "http://127.0.0.1:8000/x.txt");
  EXPECT_EQ(self.out, "peer\n") << "control: the server in n2 works";
  Ran peer = Refused("n1", "http://10.88.0.11:8000/x.txt");
  EXPECT_NE(peer.code, 0) << "VM to VM is blocked: " << peer.out;

  // n1 takes n2's address, then n2's MAC: nothing it sends so gets through
  // (unfiltered, its ARP would take n2's replies from the host), and n2 is
  // still served.
  ASSERT_EQ(Run("n1", {"sh", "-c",
                       "ip addr del 10.88.0.10/24 dev eth0 && ip addr add 10.88.0.11/24 dev eth0 "
                       "&& ip route add default via 10.88.0.1"})
                .code,
            0);
  Ran stolen_ip = Refused("n1", "http://10.88.0.1:11435/ok.txt");
  EXPECT_NE(stolen_ip.code, 0) << "a VM sends only from its own address: " << stolen_ip.out;
  ASSERT_EQ(Run("n1", {"sh", "-c",
                       "ip addr del 10.88.0.11/24 dev eth0 && ip addr add 10.88.0.10/24 dev eth0 "
                       "&& ip route add default via 10.88.0.1 "
                       "&& ip link set eth0 address 52:54:00:88:00:01"})
                .code,
            0);
  Ran stolen_mac = Refused("n1", "http://10.88.0.1:11435/ok.txt");
  EXPECT_NE(stolen_mac.code, 0) << "a VM sends only from its own MAC: " << stolen_mac.out;
  Ran n2_proxy = Fetch("n2", "http://10.88.0.1:11435/ok.txt");
  EXPECT_EQ(n2_proxy.out, "host\n") << "n2 keeps its address and its traffic";

  ASSERT_TRUE(launcher_->StopVm("n1").ok());
  auto tap = RunProcess({"ip", "-n", host_, "link", "show", "clawtap0"});
  ASSERT_TRUE(tap.ok());
  EXPECT_NE(tap->exit_code, 0) << "the stopped VM's tap is removed";
}

// The VM gets an IPv6 address and route of its own making; still nothing
// gets out (not to the host's proxy port, the outside or metadata) and
// nothing gets in. Sniffers in "host" show where it stops: the VM's IPv6
// frames reach its tap and go no further (the host stack never sees one, so
// neither neighbour discovery nor router advertisements work), and none
// reach the VM, although the host pings it. Then, with the launcher's tables
// removed, the same fetches work: the guest can speak IPv6, so the drops
// above were the filter's.
TEST_F(LauncherNetworkTest, NoIpv6InOrOut) {
  ASSERT_TRUE(launcher_->CreateVm(Spec("v6")).ok());
  auto v6 = launcher_->StartVm("v6");
  ASSERT_TRUE(v6.ok()) << v6.status();
  const std::string vm_mac = "52:54:00:88:00:00";  // slot 0
  ASSERT_TRUE(
      RunChecked({"ip", "-n", host_, "addr", "add", "fd88::1/64", "dev", "clawbr0", "nodad"}).ok());
  proxy6_ = Serve(host_, "fd88::1", 11435, "hostside");
  auto at_tap = Sniff("clawtap0", 0x0003);  // ETH_P_ALL: both directions
  auto at_host = Sniff("clawbr0", 0x86dd);  // what the bridge passes up to the host
  Ran setup = Run("v6", {"sh", "-c",
                         "echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_dad && "
                         "ip -6 addr add fd88::10/64 dev eth0 && "
                         "ip -6 route add default via fd88::1"});
  ASSERT_EQ(setup.code, 0) << setup.out;

  Ran v4 = Fetch("v6", "http://10.88.0.1:11435/ok.txt");
  EXPECT_EQ(v4.out, "host\n") << "control: IPv4 to the proxy works";
  for (const char* url : {"http://[fd88::1]:11435/ok.txt", "http://[2001:db8:1::2]:8080/hello.txt",
                          "http://[fd00:ec2::254]:8080/hello.txt"}) {
    Ran r = Refused("v6", url);
    EXPECT_NE(r.code, 0) << url << " over IPv6: " << r.out;
  }
  auto in = RunProcess(
      {"ip", "netns", "exec", host_, "busybox", "ping", "-6", "-c", "1", "-W", "3", "fd88::10"});
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_NE(in->exit_code, 0) << "nothing from the host into the VM over IPv6: " << in->out;
  EXPECT_TRUE(at_tap->WaitForLog("in " + vm_mac)) << "control: the VM did send IPv6 frames:\n"
                                                  << at_tap->Log();
  EXPECT_EQ(at_tap->Log().find("out "), std::string::npos) << "no IPv6 frame is sent to the VM:\n"
                                                           << at_tap->Log();
  EXPECT_EQ(at_host->Log().find("in " + vm_mac), std::string::npos)
      << "no IPv6 frame from the VM gets past its tap:\n"
      << at_host->Log();

  for (const char* family : {"bridge", "inet"}) {
    ASSERT_TRUE(
        RunChecked({"ip", "netns", "exec", host_, "nft", "delete", "table", family, "clawos"})
            .ok());
  }
  Ran host6 = Fetch("v6", "http://[fd88::1]:11435/ok.txt");
  EXPECT_EQ(host6.out, "host\n") << "control, unfiltered: " << host6.out;
  Ran out6 = Fetch("v6", "http://[2001:db8:1::2]:8080/hello.txt");
  EXPECT_EQ(out6.out, "outside\n") << "control, unfiltered and forwarded: " << out6.out;
  EXPECT_TRUE(at_host->WaitForLog("in " + vm_mac))
      << "control: the host-side sniffer sees them now:\n"
      << at_host->Log();
}

// Names and the subnet go into the nftables text: anything else is refused
// before a command runs.
TEST(BridgeSetupTest, RefusesWhatWouldNotBeAPlainName) {
  for (auto bad : std::vector<std::pair<std::string, std::string>>{
           {"", "10.88.0"},
           {"clawbr0\" accept", "10.88.0"},
           {"a-name-too-long-x", "10.88.0"},
           {"clawbr0", "10.88"},
           {"clawbr0", "10.88.0/24"},
           {"clawbr0", "10.88.256"},
           {"clawbr0", "10.88.0 } accept {"},
       }) {
    BridgeConfig c;
    c.bridge = bad.first;
    c.subnet = bad.second;
    c.netns = "clawos-never-made";
    auto n = BridgeNetwork::Setup(c);
    EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument)
        << "'" << bad.first << "' / '" << bad.second << "': " << n.status();
  }
}

}  // namespace
}  // namespace clawos::launcher
