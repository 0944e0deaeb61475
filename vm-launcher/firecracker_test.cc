// The Firecracker backend's API calls against Firecracker's own OpenAPI spec
// (../shared/specs/firecracker-api.yaml): every body the launcher would send
// conforms; the checker itself rejects bodies that do not; the client drives
// a stand-in API socket that answers by the spec. Booting needs firecracker
// and hardware KVM: that test SKIPs with the reason where they are missing.
#include "vm-launcher/firecracker.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "common/files.h"
#include "common/http/http1.h"
#include "common/testing/subprocess.h"
#include "common/testing/swagger_check.h"
#include "common/testing/temp_dir.h"

namespace clawos::launcher {
namespace {

using clawos::testing::SwaggerSpec;

std::string SpecPath() {
  const char* p = std::getenv("CLAWOS_FIRECRACKER_SPEC");
  return p ? p : "";
}

image::Manifest TestManifest() {
  image::Manifest m;
  m.vmlinux = {"vmlinux", 1, std::string(64, 'a')};
  m.initramfs = {"initramfs.cpio", 1, std::string(64, 'b')};
  m.rootfs = {"rootfs.img", 1, std::string(64, 'c')};
  m.verity_hash = {"rootfs.verity", 1, std::string(64, 'd')};
  m.cmdline = "quiet clawos.root_hash=abc";
  return m;
}

class FirecrackerSpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (SpecPath().empty() || !PathExists(SpecPath())) {
      GTEST_SKIP() << "SKIPPED: Firecracker's API spec not found (CLAWOS_FIRECRACKER_SPEC="
                   << SpecPath() << ")";
    }
    auto r = clawos::testing::RunCommand(
        {"/usr/bin/python3", "-c",
         "import json,sys,yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
         SpecPath()});
    ASSERT_EQ(r.exit_code, 0) << "converting the spec needs python3-yaml: " << r.err;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_TRUE(j.is_object() && j.contains("paths") && j.contains("definitions"));
    spec_ = std::make_unique<SwaggerSpec>(std::move(j));
  }
  std::unique_ptr<SwaggerSpec> spec_;
};

TEST_F(FirecrackerSpecTest, EveryBootCallConformsToTheSpec) {
  FirecrackerVm vm{"/img", "/vm/runtime.img", "/vm/workspace.img", "/vm/vsock.sock", 2, 512};
  auto plan = FirecrackerBootPlan(TestManifest(), vm);
  plan.push_back(FirecrackerCtrlAltDel());
  ASSERT_EQ(plan.size(), 9u) << "boot source, 4 drives, machine config, vsock, start, stop";
  for (const auto& r : plan) {
    auto s = spec_->CheckRequest(r.method, r.path, r.body);
    EXPECT_TRUE(s.ok()) << r.method << " " << r.path << " " << r.body.dump() << ": " << s;
  }
  EXPECT_NE(plan[0].body["boot_args"].get<std::string>().find("clawos.root_hash=abc"),
            std::string::npos);
  EXPECT_EQ(plan.back().body["action_type"], "SendCtrlAltDel");
}

TEST_F(FirecrackerSpecTest, TheCheckRejectsBodiesThatDoNotConform) {
  EXPECT_FALSE(
      spec_->CheckRequest("PUT", "/machine-config", {{"vcpu_count", "2"}, {"mem_size_mib", 256}})
          .ok())
      << "a string where an integer belongs";
  EXPECT_FALSE(
      spec_->CheckRequest("PUT", "/machine-config", {{"vcpu_count", 64}, {"mem_size_mib", 256}})
          .ok())
      << "above the maximum";
  EXPECT_FALSE(spec_->CheckRequest("PUT", "/boot-source", {{"boot_args", "x"}}).ok())
      << "kernel_image_path is required";
  EXPECT_FALSE(
      spec_
          ->CheckRequest("PUT", "/drives/root",
                         {{"drive_id", "root"}, {"is_root_device", false}, {"readonly", true}})
          .ok())
      << "an unknown property";
  EXPECT_FALSE(spec_->CheckRequest("PUT", "/actions", {{"action_type", "Reboot"}}).ok());
  EXPECT_FALSE(spec_->CheckRequest("PUT", "/vsock", {{"guest_cid", 2}, {"uds_path", "/x"}}).ok());
  EXPECT_EQ(spec_->CheckRequest("PUT", "/no-such-thing", {}).code(), absl::StatusCode::kNotFound);
}

// Answers each request by the spec: 204 when the body conforms, 400 with a
// fault_message otherwise.
class StandInApi {
 public:
  StandInApi(const SwaggerSpec& spec, std::string path) : spec_(spec), path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path_.c_str());
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    ::listen(fd_, 8);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        int c = ::accept(fd_, nullptr, nullptr);
        if (c >= 0) Serve(c);
      }
    });
  }
  ~StandInApi() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  int requests() const { return requests_; }

 private:
  void Serve(int c) {
    std::string buf, err;
    http::Head h;
    size_t used = 0;
    char tmp[4096];
    while (http::ParseRequestHead(buf, &h, &used, &err) == http::Parse::kNeedMore) {
      ssize_t n = ::recv(c, tmp, sizeof(tmp), 0);
      if (n <= 0) break;
      buf.append(tmp, n);
    }
    size_t want = std::strtoull(h.Get("content-length").c_str(), nullptr, 10);
    while (buf.size() - used < want) {
      ssize_t n = ::recv(c, tmp, sizeof(tmp), 0);
      if (n <= 0) break;
      buf.append(tmp, n);
    }
    auto body =
        want ? nlohmann::json::parse(buf.substr(used, want), nullptr, false) : nlohmann::json();
    ++requests_;
    auto s = spec_.CheckRequest(h.method, h.target, body);
    std::string out;
    if (s.ok()) {
      out = "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n";
    } else {
      std::string fault = nlohmann::json{{"fault_message", std::string(s.message())}}.dump();
      out = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: " +
            std::to_string(fault.size()) + "\r\n\r\n" + fault;
    }
    (void)!::send(c, out.data(), out.size(), MSG_NOSIGNAL);
    ::close(c);
  }
  const SwaggerSpec& spec_;
  std::string path_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

TEST_F(FirecrackerSpecTest, ClientDrivesAnApiSocketThatAnswersBySpec) {
  clawos::testing::TempDir dir;
  StandInApi api(*spec_, dir.Sub("api.sock"));
  FirecrackerClient client(dir.Sub("api.sock"));
  FirecrackerVm vm{"/img", "/vm/runtime.img", "/vm/workspace.img", "/vm/vsock.sock", 1, 256};
  ASSERT_TRUE(client.Apply(FirecrackerBootPlan(TestManifest(), vm)).ok());
  EXPECT_EQ(api.requests(), 8);
  auto bad = client.Send({"PUT", "/machine-config", {{"vcpu_count", 0}, {"mem_size_mib", 256}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("below the minimum"), std::string::npos) << bad.status();
  EXPECT_NE(bad.status().message().find("400"), std::string::npos) << bad.status();
}

TEST(FirecrackerArgvTest, PlainAndJailed) {
  EXPECT_EQ(FirecrackerArgv("/usr/bin/firecracker", "vm1", "/run/vm1.sock"),
            (std::vector<std::string>{"/usr/bin/firecracker", "--api-sock", "/run/vm1.sock", "--id",
                                      "vm1"}));
  JailerOptions j;
  j.uid = 1234;
  j.gid = 1234;
  auto argv = FirecrackerArgv("/usr/bin/firecracker", "vm1", "/run/vm1.sock", &j);
  EXPECT_EQ(argv[0], "/usr/bin/jailer");
  EXPECT_NE(std::find(argv.begin(), argv.end(), "1234"), argv.end());
  EXPECT_NE(std::find(argv.begin(), argv.end(), "--chroot-base-dir"), argv.end());
}

TEST(FirecrackerBootTest, BootsTheImage) {
  std::string why = FirecrackerUnavailableReason();
  if (!why.empty()) GTEST_SKIP() << "SKIPPED: cannot boot under Firecracker here: " << why;
  FAIL() << "this host could run Firecracker, but the launcher's Firecracker process "
            "management is not built yet (docs/vm-launcher.md)";
}

}  // namespace
}  // namespace clawos::launcher
