// bench_controlplane: what the REST edge costs on a unary call. One VM
// (created, not started: GetVm needs no guest) and the same GetVm, called
// sequentially by one client over keep-alive connections:
//   - gRPC straight to clawos-vm-launcher on its unix socket (the baseline);
//   - REST to clawos-controlplane on loopback (http), through the
//     transcoder and its token check;
//   - REST through the shipped nginx config over TLS (https), as operators
//     call it.
// Interleaved rounds; the median latency of each, and each ratio to the
// baseline (the goal for REST through nginx TLS: <= 2x).
//
//   sudo build/bench/bench_controlplane --image build/guest-image [--calls 2000] [--rounds 3]
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "clawos/identity/v1/identity.grpc.pb.h"
#include "clawos/launcher/v1/launcher.grpc.pb.h"
#include "cli/rest_client.h"
#include "cli/stack_nginx.h"
#include "common/files.h"
#include "common/grpc_client.h"
#include "common/testing/daemon_argv.h"
#include "common/testing/ports.h"
#include "common/testing/subprocess.h"
#include "common/testing/test_image.h"

namespace {

namespace lpb = ::clawos::launcher::v1;
using clawos::testing::Daemon;

const std::string kBin = CLAWOS_BIN_DIR;

struct Case {
  std::string name;
  std::function<bool()> call;
  std::vector<double> us;  // per call, all rounds
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double P90(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() * 9 / 10];
}

std::function<bool()> GrpcGetVm(const std::string& addr) {
  auto ch = clawos::MakeChannel(addr);
  if (!ch.ok()) return nullptr;
  auto stub = std::shared_ptr<lpb::LauncherService::Stub>(lpb::LauncherService::NewStub(*ch));
  return [stub] {
    lpb::GetVmRequest req;
    req.set_name("vms/bench");
    lpb::Vm vm;
    return clawos::CallStub(*stub, &lpb::LauncherService::Stub::GetVm, req, &vm).ok();
  };
}

std::function<bool()> RestGetVm(const std::string& url, const std::string& ca,
                                const std::string& token) {
  auto rest = clawos::cli::RestClient::Make(url, ca, token, "bench");
  if (!rest.ok()) return nullptr;
  auto client = std::shared_ptr<clawos::cli::RestClient>(std::move(*rest));
  return [client] {
    auto body = client->Call("GET", "/v1/vms/bench", "", absl::Seconds(30));
    return body.ok() && body->find("vms/bench") != std::string::npos;
  };
}

class Stack {
 public:
  Stack(const std::string& dir, const std::string& image) : dir_(dir) {
    cgroup_ = absl::StrCat("clawos-bench-cp", getpid());
    identity_ = Start(clawos::testing::IdentityArgv(kBin, dir), "identity", "id.sock");
    launcher_ = Start(clawos::testing::LauncherArgv(kBin, dir, cgroup_), "launcher",
                      "launcher.sock", clawos::testing::LauncherEnv(image));
    proxy_ = Start({kBin + "/clawos-inference-proxy", "--listen", "127.0.0.1:0", "--state-dir",
                    dir + "/proxy", "--identity", "unix:" + dir + "/id.sock", "--admin-listen",
                    "unix:" + dir + "/admin.sock", "--metrics-listen", "off"},
                   "proxy", "admin.sock");
  }
  ~Stack() {
    nginx_.reset();
    cp_.reset();
    for (auto* d : {&proxy_, &launcher_, &identity_}) d->reset();
    clawos::testing::RemoveCgroupParent(cgroup_);
  }
  bool ok() const { return identity_ && launcher_ && proxy_; }

  // The control plane on a port whose nginx ports (offset from 8080) are free.
  bool StartControlPlane(int port) {
    port_ = port;
    cp_ = Start({kBin + "/clawos-controlplane", "--listen", absl::StrCat("127.0.0.1:", port),
                 "--state-dir", dir_ + "/cp", "--identity", "unix:" + dir_ + "/id.sock",
                 "--launcher", "unix:" + dir_ + "/launcher.sock", "--proxy-admin",
                 "unix:" + dir_ + "/admin.sock", "--orchestrator", "off", "--monitor", "off"},
                "controlplane", "cp/admin.token");
    if (!cp_) return false;
    auto t = clawos::ReadFile(dir_ + "/cp/admin.token");
    if (!t.ok()) return false;
    token_ = std::string(absl::StripTrailingAsciiWhitespace(*t));
    return true;
  }

  // nginx with the shipped config, TLS on port + 363 (8443 for 8080).
  bool StartNginx() {
    const std::string nginx = clawos::cli::FindNginx();
    if (nginx.empty()) return false;
    clawos::cli::StackPaths p;
    p.offset = port_ - 8080;
    p.state = dir_ + "/stack";
    p.logs = dir_ + "/stack/logs";
    p.tls = dir_ + "/stack/tls";
    p.nginx = dir_ + "/stack/nginx";
    if (!clawos::MakeDirs(p.logs, 0700).ok() || !clawos::cli::EnsureTlsCert(p.tls).ok()) {
      return false;
    }
    auto conf = clawos::cli::RenderNginx(p);
    if (!conf.ok()) return false;
    nginx_ = std::make_unique<Daemon>(
        std::vector<std::string>{nginx, "-p", p.nginx, "-c", *conf, "-g", "daemon off;"},
        dir_ + "/nginx.log");
    ca_ = p.tls + "/clawos.crt";
    return true;
  }

  std::string dir_, cgroup_, token_, ca_;
  int port_ = 0;
  std::unique_ptr<Daemon> identity_, launcher_, proxy_, cp_, nginx_;

 private:
  std::unique_ptr<Daemon> Start(std::vector<std::string> argv, const std::string& name,
                                const std::string& ready,
                                std::map<std::string, std::string> env = {}) {
    auto d = std::make_unique<Daemon>(argv, dir_ + "/" + name + ".log", env);
    if (!d->WaitForFile(dir_ + "/" + ready)) {
      std::fprintf(stderr, "%s did not start:\n%s\n", name.c_str(), d->Log().c_str());
      return nullptr;
    }
    return d;
  }
};

}  // namespace

int main(int argc, char** argv) {
  // As the daemons do: the gRPC baseline pays no debug-only mutex checks either.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::string image = "build/guest-image";
  int calls = 2000, rounds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--image")) image = argv[i + 1];
    if (!std::strcmp(argv[i], "--calls")) calls = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--rounds")) rounds = std::atoi(argv[i + 1]);
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "bench_controlplane: needs root (the launcher's cgroups)\n");
    return 1;
  }
  if (char* abs = realpath(image.c_str(), nullptr)) {
    image = abs;
    free(abs);
  }
  char tmpl[] = "/tmp/clawos-bench-cp-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  int rc = 0;
  {
    Stack s(dir, image);
    const int port = clawos::testing::FreeStackPort();
    if (!s.ok() || port == 0 || !s.StartControlPlane(port)) return 1;
    // The image and one VM, through the launcher.
    auto ch = clawos::MakeChannel("unix:" + dir + "/launcher.sock");
    auto stub = lpb::LauncherService::NewStub(*ch);
    lpb::ImportImageRequest imp;
    imp.set_image_id("agent");
    imp.set_source_dir(image);
    lpb::Image img;
    lpb::CreateVmRequest c;
    c.set_vm_id("bench");
    c.mutable_spec()->set_image("images/agent");
    c.mutable_spec()->set_vcpus(1);
    c.mutable_spec()->set_memory_mib(256);
    lpb::Vm vm;
    absl::Status st = clawos::CallStub(*stub, &lpb::LauncherService::Stub::ImportImage, imp, &img,
                                       absl::Minutes(5));
    if (st.ok()) st = clawos::CallStub(*stub, &lpb::LauncherService::Stub::CreateVm, c, &vm);
    if (!st.ok()) {
      std::fprintf(stderr, "cannot make the VM: %s\n", st.ToString().c_str());
      return 1;
    }
    std::vector<Case> cases;
    cases.push_back({"gRPC to the launcher, unix socket (baseline)",
                     GrpcGetVm("unix:" + dir + "/launcher.sock")});
    cases.push_back({"REST to the control plane, http loopback",
                     RestGetVm(absl::StrCat("http://127.0.0.1:", port), "", s.token_)});
    if (s.StartNginx()) {
      auto https = RestGetVm(absl::StrCat("https://127.0.0.1:", port + 363), s.ca_, s.token_);
      absl::Time end = absl::Now() + absl::Seconds(10);
      while (absl::Now() < end && !https()) absl::SleepFor(absl::Milliseconds(100));
      cases.push_back({"REST through nginx, TLS (https)", https});
    } else {
      std::printf("nginx: SKIPPED (not installed)\n");
    }
    for (auto& k : cases) {
      if (!k.call || !k.call()) {
        std::fprintf(stderr, "%s: the call fails\n", k.name.c_str());
        return 1;
      }
      for (int i = 0; i < 200; ++i) k.call();  // warm-up
    }
    for (int r = 0; r < rounds; ++r) {
      for (auto& k : cases) {
        for (int i = 0; i < calls; ++i) {
          absl::Time t0 = absl::Now();
          if (!k.call()) {
            std::fprintf(stderr, "%s: a call failed\n", k.name.c_str());
            rc = 1;
          }
          k.us.push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
        }
      }
    }
    const double base = Median(cases[0].us);
    std::printf("GetVm, %d calls x %d rounds, one client, keep-alive\n", calls, rounds);
    std::printf("%-48s %10s %10s %8s\n", "case", "median", "p90", "ratio");
    for (const auto& k : cases) {
      std::printf("%-48s %8.0f us %8.0f us %8.2f\n", k.name.c_str(), Median(k.us), P90(k.us),
                  Median(k.us) / base);
    }
  }
  clawos::testing::RunCommand({"rm", "-rf", dir});
  return rc;
}
