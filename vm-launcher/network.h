// BRIDGE network mode: one bridge for all such VMs, a tap per VM on it with
// bridge-port isolation (VMs cannot reach each other), NAT out of the host,
// and nftables filters. At each tap (table `bridge`): only IPv4 and ARP, and
// only from the slot's own MAC and address. On the bridge (table `inet`):
// nothing to 169.254.0.0/16 (cloud metadata) or private/special ranges,
// nothing to the host except the inference proxy's port, no IPv6 at all.
// IPv6 forwarding is never turned on. Everything can be placed in a network
// namespace (the tests make their own).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace clawos::launcher {

struct BridgeConfig {
  std::string bridge = "clawbr0";
  std::string subnet = "10.88.0";  // a /24: .1 is the host side, VMs get .10 + slot
  int allowed_host_port = 11435;   // the inference proxy
  std::string netns;               // empty: the host's own
  std::string nft_table = "clawos";
};

struct VmNic {
  int slot = -1;
  std::string tap;  // "clawtap<slot>"
  std::string mac;
  std::string ip;  // "10.88.0.12"
};

inline constexpr int kMaxBridgeSlots = 240;

class BridgeNetwork {
 public:
  // Creates (or takes over) the bridge, its address, forwarding and the
  // nftables table; idempotent. FAILED_PRECONDITION when ip/bridge/nft are missing.
  static absl::StatusOr<std::unique_ptr<BridgeNetwork>> Setup(BridgeConfig config);

  VmNic NicFor(int slot) const;
  // Creates the slot's tap on the bridge, isolated and up (replacing a stale
  // one); `owner` (a jailed VMM's uid, 0: none) may attach to it unprivileged.
  absl::StatusOr<VmNic> Attach(int slot, uint32_t owner = 0);
  void Detach(const std::string& tap);
  // The clawtap* devices that exist now.
  std::vector<std::string> Taps() const;
  // The guest's kernel command-line word for its address and gateway.
  std::string GuestCmdline(const VmNic& nic) const;
  const BridgeConfig& config() const { return config_; }

 private:
  explicit BridgeNetwork(BridgeConfig c) : config_(std::move(c)) {}
  absl::StatusOr<std::string> Run(std::vector<std::string> argv,
                                  const std::string& stdin_data = "") const;
  BridgeConfig config_;
};

}  // namespace clawos::launcher
