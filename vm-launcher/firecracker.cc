#include "vm-launcher/firecracker.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/http/http1.h"
#include "common/status.h"
#include "common/unix_socket.h"
#include "vm-launcher/qemu_command.h"

namespace clawos::launcher {

std::vector<FirecrackerRequest> FirecrackerBootPlan(const image::Manifest& m,
                                                    const FirecrackerVm& vm) {
  std::vector<FirecrackerRequest> plan;
  // Serial console on ttyS0 (Firecracker's), no PCI probing, panic = power off.
  std::string args = absl::StrCat(m.cmdline, " console=ttyS0 reboot=k panic=1 pci=off");
  plan.push_back({"PUT",
                  "/boot-source",
                  {{"kernel_image_path", vm.image_dir + "/" + m.vmlinux.path},
                   {"initrd_path", vm.image_dir + "/" + m.initramfs.path},
                   {"boot_args", args}}});
  auto drive = [&](const std::string& id, const std::string& path, bool ro) {
    plan.push_back({"PUT",
                    "/drives/" + id,
                    {{"drive_id", id},
                     {"path_on_host", path},
                     {"is_root_device", false},  // the initramfs mounts the verified root
                     {"is_read_only", ro},
                     {"cache_type", "Unsafe"},
                     {"io_engine", "Sync"}}});
  };
  drive("clawos-root", vm.image_dir + "/" + m.rootfs.path, true);
  drive("clawos-hash", vm.image_dir + "/" + m.verity_hash.path, true);
  if (!vm.runtime_disk.empty()) drive("clawos-runtime", vm.runtime_disk, false);
  if (!vm.workspace_disk.empty()) drive("clawos-workspace", vm.workspace_disk, false);
  plan.push_back({"PUT",
                  "/machine-config",
                  {{"vcpu_count", vm.vcpus},
                   {"mem_size_mib", vm.memory_mib},
                   {"smt", false},
                   {"track_dirty_pages", false}}});
  plan.push_back({"PUT", "/vsock", {{"guest_cid", kGuestCid}, {"uds_path", vm.vsock_path}}});
  plan.push_back({"PUT", "/actions", {{"action_type", "InstanceStart"}}});
  return plan;
}

FirecrackerRequest FirecrackerCtrlAltDel() {
  return {"PUT", "/actions", {{"action_type", "SendCtrlAltDel"}}};
}

std::vector<std::string> FirecrackerArgv(const std::string& firecracker, const std::string& id,
                                         const std::string& api_socket,
                                         const JailerOptions* jailer) {
  if (!jailer) return {firecracker, "--api-sock", api_socket, "--id", id};
  // The jailer chroots, drops to uid:gid and puts the API socket inside the chroot.
  return {jailer->jailer,
          "--id",
          id,
          "--exec-file",
          firecracker,
          "--uid",
          std::to_string(jailer->uid),
          "--gid",
          std::to_string(jailer->gid),
          "--chroot-base-dir",
          jailer->chroot_base,
          "--",
          "--api-sock",
          "/run/firecracker.socket"};
}

std::string FirecrackerUnavailableReason(const std::string& firecracker) {
  std::string why;
  bool on_path = false;
  if (firecracker.find('/') != std::string::npos) {
    on_path = ::access(firecracker.c_str(), X_OK) == 0;
  } else {
    for (const char* d : {"/usr/local/bin/", "/usr/bin/", "/bin/"}) {
      on_path |= ::access((std::string(d) + firecracker).c_str(), X_OK) == 0;
    }
  }
  if (!on_path) why = "the firecracker binary is not installed";
  if (DetectAccel(&why) != "kvm") {
    std::string kvm = "no hardware KVM (" + why + ")";
    return on_path ? kvm : "the firecracker binary is not installed and " + kvm;
  }
  return on_path ? "" : why;
}

absl::StatusOr<nlohmann::json> FirecrackerClient::Send(const FirecrackerRequest& r,
                                                       absl::Duration timeout) {
  ASSIGN_OR_RETURN(int fd, ConnectUnixSocket(socket_));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  std::string body = r.body.is_null() ? "" : r.body.dump();
  std::string req = absl::StrCat(r.method, " ", r.path, " HTTP/1.1\r\nHost: localhost\r\n",
                                 "Accept: application/json\r\n");
  if (!body.empty()) {
    absl::StrAppend(&req, "Content-Type: application/json\r\nContent-Length: ", body.size(),
                    "\r\n");
  }
  absl::StrAppend(&req, "\r\n", body);
  for (size_t off = 0; off < req.size();) {
    ssize_t n = ::send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return ErrnoStatus(errno, absl::StrCat(r.method, " ", r.path));
    off += static_cast<size_t>(n);
  }
  absl::Time deadline = absl::Now() + timeout;
  std::string buf, error;
  http::Head head;
  size_t used = 0;
  size_t want = 0;
  bool have_head = false;
  for (;;) {
    if (!have_head) {
      http::Parse p = http::ParseResponseHead(buf, &head, &used, &error);
      if (p == http::Parse::kError) {
        return absl::InternalError(absl::StrCat("firecracker answered badly: ", error));
      }
      if (p == http::Parse::kDone) {
        have_head = true;
        want = std::strtoull(head.Get("content-length").c_str(), nullptr, 10);
      }
    }
    if (have_head && buf.size() - used >= want) break;
    int left = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, left) <= 0) {
      return absl::DeadlineExceededError(absl::StrCat(r.method, " ", r.path, ": no answer"));
    }
    char tmp[8192];
    ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
    if (n <= 0) {
      if (have_head) break;
      return absl::UnavailableError(absl::StrCat(r.method, " ", r.path, ": connection closed"));
    }
    buf.append(tmp, static_cast<size_t>(n));
  }
  std::string rbody = buf.substr(used, want);
  auto j = rbody.empty() ? nlohmann::json() : nlohmann::json::parse(rbody, nullptr, false);
  if (head.status / 100 != 2) {
    std::string fault = j.is_object() ? j.value("fault_message", rbody) : rbody;
    return absl::FailedPreconditionError(
        absl::StrCat("firecracker ", r.method, " ", r.path, ": ", head.status, ": ", fault));
  }
  return j;
}

absl::Status FirecrackerClient::Apply(const std::vector<FirecrackerRequest>& plan) {
  for (const auto& r : plan) RETURN_IF_ERROR(Send(r).status());
  return absl::OkStatus();
}

}  // namespace clawos::launcher
