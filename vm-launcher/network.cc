#include "vm-launcher/network.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/process.h"
#include "common/status.h"

namespace clawos::launcher {
namespace {

// Destinations no VM may reach through the host, whatever routes it has:
// "this network", RFC 1918, shared address space (RFC 6598, where some clouds
// keep metadata), loopback and multicast/reserved. Link-local (cloud
// metadata) has a rule of its own.
constexpr char kPrivateV4[] =
    "0.0.0.0/8, 10.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, "
    "224.0.0.0/3";

// Layer 2, at each VM's tap: only IPv4 and ARP cross it, in either direction
// (so no IPv6 at all: no router advertisements, neighbour discovery or
// link-local traffic to the host or from it), and a VM sends only from its
// own MAC and address (no ARP poisoning, no taking over another VM's or the
// host's address, no bridge forwarding table games). Every slot's
// tap . MAC . address is listed up front: NicFor is a function of the slot.
std::string BridgeTable(const BridgeNetwork& n) {
  std::vector<std::string> nics;
  for (int slot = 0; slot < kMaxBridgeSlots; ++slot) {
    VmNic nic = n.NicFor(slot);
    nics.push_back(absl::StrCat("\"", nic.tap, "\" . ", nic.mac, " . ", nic.ip));
  }
  return absl::StrFormat(R"(table bridge %1$s {}
delete table bridge %1$s
table bridge %1$s {
  set vm_nics {
    type ifname . ether_addr . ipv4_addr
    elements = { %2$s }
  }
  chain prerouting {
    type filter hook prerouting priority filter; policy accept;
    iifname "clawtap*" ether type != { ip, arp } counter drop comment "from a VM: IPv4 and ARP only"
    iifname "clawtap*" ether type ip iifname . ether saddr . ip saddr != @vm_nics counter drop comment "no spoofed MAC or address"
    iifname "clawtap*" ether type arp iifname . ether saddr . arp saddr ip != @vm_nics counter drop comment "no ARP spoofing"
    iifname "clawtap*" ether type arp iifname . arp saddr ether . arp saddr ip != @vm_nics counter drop comment "no ARP spoofing"
  }
  chain output {
    type filter hook output priority filter; policy accept;
    oifname "clawtap*" ether type != { ip, arp } counter drop comment "to a VM: IPv4 and ARP only"
  }
}
)",
                         n.config().nft_table, absl::StrJoin(nics, ", "));
}

// Layer 3, on the bridge: what a VM may reach, and NAT out.
std::string InetTable(const BridgeConfig& c) {
  std::string br = c.bridge, net = c.subnet + ".0/24";
  return absl::StrFormat(R"(table inet %1$s {}
delete table inet %1$s
table inet %1$s {
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "%2$s" meta nfproto ipv6 counter drop comment "VMs have no IPv6"
    iifname "%2$s" ct state established,related accept
    iifname "%2$s" tcp dport %3$d accept
    iifname "%2$s" counter drop comment "VMs reach no host port but the proxy"
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "%2$s" meta nfproto ipv6 counter drop comment "VMs have no IPv6"
    oifname "%2$s" meta nfproto ipv6 counter drop comment "VMs have no IPv6"
    iifname "%2$s" ip daddr 169.254.0.0/16 counter drop comment "no cloud metadata"
    iifname "%2$s" oifname "%2$s" counter drop comment "no VM to VM"
    iifname "%2$s" ip saddr != %4$s counter drop comment "no spoofed sources"
    iifname "%2$s" ip daddr { %5$s } counter drop comment "no private or special destinations"
    oifname "%2$s" ct state established,related accept
    oifname "%2$s" counter drop comment "nothing from outside into the VMs"
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr %4$s oifname != "%2$s" masquerade
  }
}
)",
                         c.nft_table, br, c.allowed_host_port, net, kPrivateV4);
}

// Each table is recreated whole, both in one transaction: the `table ... {}`
// lines make the deletes safe when a table does not exist yet.
std::string Ruleset(const BridgeNetwork& n) { return BridgeTable(n) + InetTable(n.config()); }

// Names go into the ruleset's text: letters, digits, '-', '_' and '.' only.
bool ValidName(const std::string& name) {
  return !name.empty() && name.size() <= 15 &&
         name.find_first_not_of(
             "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") ==
             std::string::npos;
}

bool ValidSubnet(const std::string& subnet) {
  std::vector<std::string> octets = absl::StrSplit(subnet, '.');
  if (octets.size() != 3) return false;
  for (const std::string& o : octets) {
    int v = 0;
    if (o.empty() || o.size() > 3 || o.find_first_not_of("0123456789") != std::string::npos ||
        !absl::SimpleAtoi(o, &v) || v > 255) {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<std::string> BridgeNetwork::Run(std::vector<std::string> argv,
                                               const std::string& stdin_data) const {
  if (!config_.netns.empty()) argv.insert(argv.begin(), {"ip", "netns", "exec", config_.netns});
  ProcessOptions o;
  o.stdin_data = stdin_data;
  o.timeout = absl::Seconds(30);
  return RunChecked(argv, o);
}

absl::StatusOr<std::unique_ptr<BridgeNetwork>> BridgeNetwork::Setup(BridgeConfig c) {
  if (!ValidName(c.bridge)) {
    return absl::InvalidArgumentError(
        "bridge name must be 1-15 characters of letters, digits, '-', '_' and '.'");
  }
  if (!ValidName(c.nft_table)) return absl::InvalidArgumentError("bad nftables table name");
  if (!ValidSubnet(c.subnet)) {
    return absl::InvalidArgumentError("subnet must be like 10.88.0 (a /24)");
  }
  std::unique_ptr<BridgeNetwork> n(new BridgeNetwork(std::move(c)));
  const BridgeConfig& k = n->config_;
  for (const char* tool : {"ip", "bridge", "nft"}) {
    auto found = RunProcess({"sh", "-c", absl::StrCat("command -v ", tool)});
    if (!found.ok() || found->exit_code != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("BRIDGE networking needs `", tool, "` (install iproute2 and nftables)"));
    }
  }
  if (!n->Run({"ip", "link", "show", k.bridge}).ok()) {
    RETURN_IF_ERROR(n->Run({"ip", "link", "add", k.bridge, "type", "bridge"}).status());
  }
  RETURN_IF_ERROR(n->Run({"ip", "addr", "replace", k.subnet + ".1/24", "dev", k.bridge}).status());
  RETURN_IF_ERROR(n->Run({"ip", "link", "set", k.bridge, "up"}).status());
  // Only when it is off: under systemd's ProtectKernelTunables /proc/sys is
  // read-only, and the host (nix/hosts/host.nix) turns forwarding on itself.
  RETURN_IF_ERROR(n->Run({"sh", "-c",
                          "[ \"$(cat /proc/sys/net/ipv4/ip_forward)\" = 1 ] || "
                          "echo 1 > /proc/sys/net/ipv4/ip_forward"})
                      .status());
  RETURN_IF_ERROR(
      Annotate(n->Run({"nft", "-f", "-"}, Ruleset(*n)).status(), "loading the egress filter"));
  return n;
}

VmNic BridgeNetwork::NicFor(int slot) const {
  VmNic nic;
  nic.slot = slot;
  nic.tap = absl::StrCat("clawtap", slot);
  nic.mac = absl::StrFormat("52:54:00:88:%02x:%02x", (slot >> 8) & 0xff, slot & 0xff);
  nic.ip = absl::StrCat(config_.subnet, ".", 10 + slot);
  return nic;
}

absl::StatusOr<VmNic> BridgeNetwork::Attach(int slot, uint32_t owner) {
  if (slot < 0 || slot >= kMaxBridgeSlots) {
    return absl::ResourceExhaustedError("no free address on the bridge");
  }
  VmNic nic = NicFor(slot);
  Run({"ip", "link", "del", nic.tap}).IgnoreError();  // a stale one from a crash
  auto made = [&]() -> absl::Status {
    std::vector<std::string> add = {"ip", "tuntap", "add", "dev", nic.tap, "mode", "tap"};
    if (owner != 0) {
      add.insert(add.end(), {"user", absl::StrCat(owner), "group", absl::StrCat(owner)});
    }
    RETURN_IF_ERROR(Run(add).status());
    RETURN_IF_ERROR(Run({"ip", "link", "set", nic.tap, "master", config_.bridge}).status());
    RETURN_IF_ERROR(Run({"bridge", "link", "set", "dev", nic.tap, "isolated", "on"}).status());
    return Run({"ip", "link", "set", nic.tap, "up"}).status();
  }();
  if (!made.ok()) {
    Detach(nic.tap);
    return Annotate(made, absl::StrCat("creating tap ", nic.tap));
  }
  return nic;
}

void BridgeNetwork::Detach(const std::string& tap) {
  Run({"ip", "link", "del", tap}).IgnoreError();
}

std::vector<std::string> BridgeNetwork::Taps() const {
  std::vector<std::string> out;
  auto list = Run({"ip", "-o", "link", "show"});
  if (!list.ok()) return out;
  for (absl::string_view line : absl::StrSplit(*list, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() < 2) continue;
    std::string name(f[1].substr(0, f[1].find_first_of(":@")));
    if (name.rfind("clawtap", 0) == 0) out.push_back(name);
  }
  return out;
}

std::string BridgeNetwork::GuestCmdline(const VmNic& nic) const {
  return absl::StrCat("clawos.net=", nic.ip, "/24,", config_.subnet, ".1");
}

}  // namespace clawos::launcher
