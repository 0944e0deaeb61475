// The launcher core over real boots of the built, signed guest image: a
// launcher on a private state directory and cgroup parent, and the agent
// operations tests use (exec, put, get).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/testing/temp_dir.h"
#include "common/testing/test_image.h"
#include "image/signing.h"
#include "vm-launcher/agent_ops.h"
#include "vm-launcher/launcher.h"

namespace clawos::launcher {

class LauncherFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = testing::VmTestSkipReason(&image_); !why.empty()) GTEST_SKIP() << why;
    auto pub = image::ParsePublicKey(image_ + "/../guest-keys/signing.pub");
    ASSERT_TRUE(pub.ok()) << pub.status();
    LauncherConfig c = Config();
    auto l = Launcher::Open(c, RealClock::Get());
    ASSERT_TRUE(l.ok()) << l.status();
    launcher_ = std::move(*l);
  }
  void TearDown() override {
    if (!launcher_) return;
    for (const Vm& vm : launcher_->ListVms()) {
      if (vm.state == VmState::kRunning) launcher_->StopVm(vm.spec.name).IgnoreError();
    }
    for (const char* h : {"", "/unified", "/memory", "/cpu", "/pids"}) {
      ::rmdir(absl::StrCat("/sys/fs/cgroup", h, "/clawos-test-", getpid()).c_str());
    }
  }
  LauncherConfig Config() {
    LauncherConfig c;
    c.state_dir = dir_.Sub("state");
    c.cgroup_parent = absl::StrCat("clawos-test-", getpid());
    c.signing_pubkey = image::ParsePublicKey(image_ + "/../guest-keys/signing.pub").value();
    c.max_vms = 2;
    c.ready_timeout = absl::Seconds(90);
    c.jailer = CLAWOS_BIN_DIR "/clawos-jailer";
    return c;
  }
  // The VM's v2 cgroup (these machines are unified).
  std::string CgroupPath(const std::string& vm) {
    return absl::StrCat("/sys/fs/cgroup/clawos-test-", getpid(), "/", vm);
  }
  VmSpec Spec(const std::string& name) {
    VmSpec s;
    s.name = name;
    s.image = "agent";
    s.runtime_disk_mib = 32;
    s.workspace_disk_mib = 32;
    return s;
  }
  absl::StatusOr<std::string> Exec(const std::string& vm, std::vector<std::string> argv) {
    ASSIGN_OR_RETURN(auto agent, launcher_->Agent(vm));
    ASSIGN_OR_RETURN(auto r, ExecCollect(*agent, argv, absl::Now() + absl::Seconds(60)));
    if (r.exit.exit_code() != 0) {
      return absl::InternalError("exit code " + std::to_string(r.exit.exit_code()));
    }
    return r.out;
  }
  absl::Status Put(const std::string& vm, const std::string& path, const std::string& content) {
    ASSIGN_OR_RETURN(auto agent, launcher_->Agent(vm));
    apb::FilePut put;
    put.set_path(path);
    put.set_create_parents(true);
    size_t off = 0;
    auto next = [&](std::string* data, bool* eof) {
      size_t n = std::min<size_t>(agent::kMaxChunkBytes, content.size() - off);
      *data = content.substr(off, n);
      off += n;
      *eof = off == content.size();
      return absl::OkStatus();
    };
    return PutFile(*agent, put, next, absl::Now() + absl::Seconds(60)).status();
  }
  absl::StatusOr<std::string> Get(const std::string& vm, const std::string& path) {
    ASSIGN_OR_RETURN(auto agent, launcher_->Agent(vm));
    std::string out;
    RETURN_IF_ERROR(GetFile(
        *agent, path, [](const apb::FileInfo&) { return true; },
        [&](const std::string& d) {
          out += d;
          return true;
        },
        absl::Now() + absl::Seconds(60)));
    return out;
  }

  clawos::testing::TempDir dir_;
  std::string image_;
  std::unique_ptr<Launcher> launcher_;
};

}  // namespace clawos::launcher
