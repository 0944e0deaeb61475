// The Firecracker backend's API side: the REST calls that configure and boot
// a ClawOS guest (boot source, drives, machine config, vsock, InstanceStart),
// planned as data so they are checked against Firecracker's own OpenAPI spec
// without a Firecracker, and a client that sends them over the API socket.
// The guest gets the same kernel, initramfs, verity parameters and disks (by
// drive id, which Firecracker reports as the virtio-blk serial) as under QEMU.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "image/manifest.h"

namespace clawos::launcher {

struct FirecrackerRequest {
  std::string method;   // "PUT", "PATCH", "GET"
  std::string path;     // "/drives/clawos-root"
  nlohmann::json body;  // null for none
};

struct FirecrackerVm {
  std::string image_dir;
  std::string runtime_disk;
  std::string workspace_disk;
  std::string vsock_path;  // host side of the guest's vsock (the agent channel)
  int vcpus = 1;
  int memory_mib = 256;
};

inline constexpr int kAgentVsockPort = 52;
inline constexpr int kGuestCid = 3;

// The calls, in order, that configure `vm` from the image and start it.
std::vector<FirecrackerRequest> FirecrackerBootPlan(const image::Manifest& m,
                                                    const FirecrackerVm& vm);
// An orderly stop asks the guest (Ctrl-Alt-Del); the agent's Shutdown comes first.
FirecrackerRequest FirecrackerCtrlAltDel();

// argv for firecracker itself, or for the jailer when `jailer` is set (the VM
// runs chrooted under `chroot_base`/firecracker/<id>/root as uid:gid).
struct JailerOptions {
  std::string jailer = "/usr/bin/jailer";
  std::string chroot_base = "/srv/jailer";
  int uid = 0;
  int gid = 0;
};
std::vector<std::string> FirecrackerArgv(const std::string& firecracker, const std::string& id,
                                         const std::string& api_socket,
                                         const JailerOptions* jailer = nullptr);

// Why this host cannot run the Firecracker backend, or "" when it can.
std::string FirecrackerUnavailableReason(const std::string& firecracker = "firecracker");

// A client of the API socket: one HTTP/1.1 request per connection.
class FirecrackerClient {
 public:
  explicit FirecrackerClient(std::string api_socket) : socket_(std::move(api_socket)) {}
  // 2xx → OK; Firecracker's {"fault_message": ...} becomes the error text.
  absl::StatusOr<nlohmann::json> Send(const FirecrackerRequest& r,
                                      absl::Duration timeout = absl::Seconds(10));
  // Sends the plan in order; stops at the first failure, naming the call.
  absl::Status Apply(const std::vector<FirecrackerRequest>& plan);

 private:
  std::string socket_;
};

}  // namespace clawos::launcher
