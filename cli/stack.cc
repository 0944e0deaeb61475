#include "cli/stack.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "clawos/launcher/v1/launcher.grpc.pb.h"
#include "cli/api_client.h"
#include "cli/stack_nginx.h"
#include "common/files.h"
#include "common/grpc_client.h"
#include "common/grpc_status.h"
#include "common/http/client.h"
#include "common/process.h"
#include "common/status.h"

namespace clawos::cli {

namespace lpb = ::clawos::launcher::v1;

namespace {

std::string SelfDir() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "." : p.parent_path().string();
}

// The program a pid runs, without " (deleted)".
std::string ExeOf(pid_t pid) {
  std::error_code ec;
  std::string exe = std::filesystem::read_symlink(absl::StrCat("/proc/", pid, "/exe"), ec);
  if (ec) return "";
  const std::string deleted = " (deleted)";
  if (exe.size() > deleted.size() &&
      exe.compare(exe.size() - deleted.size(), deleted.size(), deleted) == 0) {
    exe.resize(exe.size() - deleted.size());
  }
  return exe;
}

std::string Base(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

// The pid in <run>/<name>.pid when that process is alive and runs `binary`.
pid_t RunningPid(const StackPaths& p, const Service& s) {
  auto text = ReadFile(p.run + "/" + s.name + ".pid");
  int64_t pid = 0;
  if (!text.ok() || !absl::SimpleAtoi(*text, &pid) || pid <= 1) return 0;
  if (kill(static_cast<pid_t>(pid), 0) != 0) return 0;
  if (Base(ExeOf(static_cast<pid_t>(pid))) != Base(s.binary)) return 0;  // a reused pid
  return static_cast<pid_t>(pid);
}

absl::Status GrpcReady(const std::string& addr) {
  auto ch = MakeChannel(addr);
  if (!ch.ok()) return ch.status();
  if (!(*ch)->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Milliseconds(500)))) {
    return absl::UnavailableError(absl::StrCat("nothing answers on ", addr));
  }
  return absl::OkStatus();
}

absl::Status HttpReady(const std::string& url, const std::string& ca_file = "") {
  auto u = http::ParseUrl(url);
  if (!u.ok()) return u.status();
  u->ca_file = ca_file;
  auto c = http::ClientCall::Start(*u, {"GET", "/healthz", {}, ""}, absl::Seconds(2));
  if (!c.ok()) return c.status();
  int status = (*c)->head().status;
  if (status != 200) return absl::UnavailableError(absl::StrCat(url, " answered ", status));
  return absl::OkStatus();
}

// Runs argv with this terminal's stdout/stderr (long jobs show their progress).
absl::Status RunVisible(const std::vector<std::string>& argv) {
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawnp(&pid, cargv[0], nullptr, nullptr, cargv.data(), environ);
  if (rc != 0) return ErrnoStatus(rc, "starting " + argv[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (ExitCodeOf(status) != 0) {
    return absl::InternalError(absl::StrCat(argv[0], " ", argv[1], " ", argv[2], " failed (exit ",
                                            ExitCodeOf(status), ")"));
  }
  return absl::OkStatus();
}

absl::Status EnsureImage(const StackOptions& o, const StackPaths& p, std::ostream& out) {
  if (PathExists(p.image_dir + "/manifest.sig")) return absl::OkStatus();
  if (!o.image_dir.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(p.image_dir, " has no manifest.sig: give a built and signed image"));
  }
  const std::string clawos = SelfDir() + "/clawos";
  const std::string keys = p.state + "/image-key";
  if (!PathExists(keys + "/signing.key")) {
    if (auto s = RunVisible({clawos, "image", "keygen", "--out", keys}); !s.ok()) return s;
  }
  out << "up: building the guest image into " << p.image_dir << " (once; a few minutes)\n";
  std::error_code ec;
  std::filesystem::remove_all(p.image_dir, ec);
  if (auto s = RunVisible({clawos, "image", "build", "--out", p.image_dir}); !s.ok()) return s;
  return RunVisible({clawos, "image", "sign", "--key", keys + "/signing.key", p.image_dir});
}

// The stack's own launcher, over its unix socket.
absl::StatusOr<std::unique_ptr<ApiClient>> Launcher(const StackPaths& p) {
  Context ctx;
  ctx.launcher_addr = p.Sock("launcher", "launcher.sock");
  return MakeDirectApiClient(ctx);
}

std::string LauncherMethod(const char* name) {
  return absl::StrCat("clawos.launcher.v1.LauncherService.", name);
}

absl::Status ImportImage(const StackPaths& p) {
  ASSIGN_OR_RETURN(auto api, Launcher(p));
  lpb::GetImageRequest get;
  get.set_name("images/agent");
  absl::Status got = api->Call<lpb::Image>(LauncherMethod("GetImage"), get).status();
  if (got.ok()) return got;
  if (!absl::IsNotFound(got)) return got;
  lpb::ImportImageRequest req;
  req.set_image_id("agent");
  req.set_source_dir(p.image_dir);
  return api->Call<lpb::Image>(LauncherMethod("ImportImage"), req).status();
}

// Stops every running VM (the launcher leaves VMs running when it exits).
void StopVms(const StackPaths& p, std::ostream& out) {
  auto api = Launcher(p);
  if (!api.ok()) return;
  std::vector<lpb::Vm> vms;
  lpb::ListVmsRequest req;
  do {
    auto resp = (*api)->Call<lpb::ListVmsResponse>(LauncherMethod("ListVms"), req);
    if (!resp.ok()) break;
    vms.insert(vms.end(), resp->vms().begin(), resp->vms().end());
    req.set_page_token(resp->next_page_token());
  } while (!req.page_token().empty());
  for (const auto& vm : vms) {
    if (vm.state() != lpb::Vm::RUNNING && vm.state() != lpb::Vm::STARTING) continue;
    lpb::StopVmRequest stop;
    stop.set_name(vm.name());
    stop.mutable_timeout()->set_seconds(10);
    stop.set_force(true);
    absl::Status s =
        (*api)->Call<lpb::Vm>(LauncherMethod("StopVm"), stop, absl::Minutes(1)).status();
    out << "  " << vm.name()
        << (s.ok() ? " stopped" : " could not be stopped: " + std::string(s.message())) << "\n";
  }
}

bool Exited(pid_t pid) {
  int status;
  pid_t r = waitpid(pid, &status, WNOHANG);
  if (r == pid) return true;
  return r < 0 && errno == ECHILD ? kill(pid, 0) != 0 : false;
}

void Terminate(pid_t pid, absl::Duration grace) {
  if (kill(pid, SIGTERM) != 0) return;
  absl::Time end = absl::Now() + grace;
  while (absl::Now() < end) {
    if (Exited(pid)) return;
    absl::SleepFor(absl::Milliseconds(50));
  }
  kill(pid, SIGKILL);
  for (int i = 0; i < 100 && !Exited(pid); ++i) absl::SleepFor(absl::Milliseconds(20));
}

// One `up` or `down` at a time per state directory (they share pid files).
class StackLock {
 public:
  explicit StackLock(const std::string& run) {
    fd_ = open((run + "/stack.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ >= 0 && flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      std::cerr << "waiting for another clawos up/down on this state directory\n";
      flock(fd_, LOCK_EX);
    }
  }
  ~StackLock() {
    if (fd_ >= 0) close(fd_);
  }

 private:
  int fd_ = -1;
};

// What the daemons must not inherit from the CLI's environment.
const std::map<std::string, std::string> kNotForDaemons = {
    {"CLAWOS_TOKEN", ""}, {"CLAWOS_TOKEN_FILE", ""}, {"CLAWOS_CONFIG", ""}};

std::string LogTail(const std::string& path) { return ReadFileTail(path, 2000).value_or(""); }

}  // namespace

StackPaths PathsFor(const StackOptions& o) {
  StackPaths p;
  p.state = o.state_dir;
  p.run = o.state_dir + "/run";
  p.logs = o.state_dir + "/logs";
  p.image_dir = o.image_dir.empty() ? o.state_dir + "/images/agent" : o.image_dir;
  p.pubkey = o.signing_pubkey.empty() ? o.state_dir + "/image-key/signing.pub" : o.signing_pubkey;
  p.tls = o.state_dir + "/tls";
  p.nginx = o.state_dir + "/nginx";
  p.offset = o.port_offset;
  return p;
}

std::vector<Service> StackServices(const StackOptions& o, bool every) {
  const StackPaths p = PathsFor(o);
  const std::string bin = o.bin_dir.empty() ? SelfDir() : o.bin_dir;
  auto tcp = [&](int base) { return absl::StrCat("127.0.0.1:", p.port(base)); };
  const std::string id_sock = p.Sock("identity", "identity.sock");
  const std::string admin_sock = p.Sock("proxy", "admin.sock");
  const std::string mon_sock = p.Sock("monitor", "monitor.sock");
  const std::string l_sock = p.Sock("launcher", "launcher.sock");
  const bool monitor = every || (o.monitor && geteuid() == 0);
  std::vector<Service> s;
  s.push_back({"identity",
               bin + "/clawos-identity",
               {"--state-dir", p.state + "/identity", "--listen", tcp(2082), "--listen", id_sock,
                "--metrics-listen", tcp(9082)},
               {},
               [id_sock] { return GrpcReady(id_sock); }});
  s.push_back(
      {"inference-proxy",
       bin + "/clawos-inference-proxy",
       {"--state-dir", p.state + "/proxy", "--listen", tcp(11435), "--identity", id_sock,
        "--admin-listen", tcp(2084), "--admin-listen", admin_sock, "--metrics-listen", tcp(9084)},
       {},
       [admin_sock] { return GrpcReady(admin_sock); }});
  if (monitor) {
    s.push_back({"monitor",
                 bin + "/clawos-monitor",
                 {"--state-dir", p.state + "/monitor", "--listen", tcp(2083), "--listen", mon_sock,
                  "--metrics-listen", tcp(9083)},
                 {},
                 [mon_sock] { return GrpcReady(mon_sock); }});
  }
  Service launcher{"launcher",
                   bin + "/clawos-vm-launcher",
                   {"--state-dir", p.state + "/launcher", "--listen", tcp(2080), "--listen", l_sock,
                    "--metrics-listen", tcp(9080), "--identity", id_sock, "--inference-proxy-url",
                    "http://" + tcp(11435)},
                   {{"CLAWOS_SIGNING_PUBKEY", p.pubkey}},
                   [l_sock] { return GrpcReady(l_sock); }};
  if (p.offset != 0) {
    launcher.args.insert(launcher.args.end(),
                         {"--cgroup-parent", absl::StrCat("clawos-", p.offset)});
  }
  if (monitor) launcher.args.insert(launcher.args.end(), {"--monitor", mon_sock});
  s.push_back(launcher);
  const std::string o_sock = p.Sock("orchestrator", "orchestrator.sock");
  s.push_back({"orchestrator",
               bin + "/clawos-orchestrator",
               {"--state-dir", p.state + "/orchestrator", "--listen", tcp(2081), "--listen", o_sock,
                "--metrics-listen", tcp(9081), "--launcher", l_sock, "--proxy-admin", admin_sock},
               {},
               [o_sock] { return GrpcReady(o_sock); }});
  const std::string cp_url = "http://" + tcp(8080);
  s.push_back({"controlplane",
               bin + "/clawos-controlplane",
               {"--state-dir", p.state + "/controlplane", "--listen", tcp(8080), "--identity",
                id_sock, "--launcher", l_sock, "--proxy-admin", admin_sock, "--orchestrator",
                o_sock, "--monitor", monitor ? mon_sock : "off"},
               {},
               [cp_url] { return HttpReady(cp_url); }});
  std::string nginx = o.nginx ? FindNginx() : "";
  if (nginx.empty() && every) nginx = "nginx";
  if (!nginx.empty()) {
    const std::string url = absl::StrCat("https://localhost:", p.port(8443));
    const std::string ca = p.tls + "/clawos.crt";
    s.push_back({"nginx",
                 nginx,
                 {"-p", p.nginx, "-c", p.nginx + "/nginx.conf", "-g", "daemon off;"},
                 {},
                 [url, ca] { return HttpReady(url, ca); }});
  }
  return s;
}

absl::Status StackUp(const StackOptions& o, std::ostream& out) {
  const StackPaths p = PathsFor(o);
  for (const std::string& d : {p.state, p.run, p.logs}) {
    if (auto s = EnsurePrivateDir(d); !s.ok()) return s;
  }
  StackLock lock(p.run);
  if (auto s = EnsureImage(o, p, out); !s.ok()) return s;
  std::vector<Service> services = StackServices(o);
  std::vector<std::pair<Service, pid_t>> started;
  auto undo = [&] {
    for (auto it = started.rbegin(); it != started.rend(); ++it) {
      Terminate(it->second, o.stop_grace);
      unlink((p.run + "/" + it->first.name + ".pid").c_str());
    }
  };
  for (const Service& svc : services) {
    if (pid_t pid = RunningPid(p, svc)) {
      out << absl::StrFormat("  %-16s running (pid %d)\n", svc.name, pid);
      continue;
    }
    if (svc.name == "nginx") {
      if (auto s = EnsureTlsCert(p.tls); !s.ok()) return undo(), s;
      if (auto r = RenderNginx(p); !r.ok()) return undo(), r.status();
    }
    const std::string log = p.logs + "/" + svc.name + ".log";
    std::vector<std::string> argv = {svc.binary};
    argv.insert(argv.end(), svc.args.begin(), svc.args.end());
    const absl::Time t0 = absl::Now();
    std::map<std::string, std::string> env = kNotForDaemons;
    for (const auto& [k, v] : svc.env) env[k] = v;
    auto pid = SpawnDaemon(argv, env, log);
    if (!pid.ok()) return undo(), pid.status();
    started.push_back({svc, *pid});
    if (auto s = WriteFileAtomic(p.run + "/" + svc.name + ".pid", absl::StrCat(*pid, "\n"), 0600);
        !s.ok()) {
      return undo(), s;
    }
    absl::Status ready = absl::UnavailableError("not checked");
    while (absl::Now() - t0 < o.ready_timeout) {
      if ((ready = svc.ready()).ok()) break;
      if (Exited(*pid)) {
        started.pop_back();  // reaped: its pid may be another process's already
        unlink((p.run + "/" + svc.name + ".pid").c_str());
        undo();
        return absl::FailedPreconditionError(absl::StrCat(
            svc.name, " exited while starting; the end of ", log, ":\n", LogTail(log)));
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    if (!ready.ok()) {
      undo();
      return absl::DeadlineExceededError(
          absl::StrCat(svc.name, " did not answer within ", absl::FormatDuration(o.ready_timeout),
                       ": ", ready.message(), "; the end of ", log, ":\n", LogTail(log)));
    }
    // Something else may answer in its place (an orphan holding the port):
    // then ours exits at once.
    absl::SleepFor(absl::Milliseconds(200));
    if (Exited(*pid)) {
      started.pop_back();
      unlink((p.run + "/" + svc.name + ".pid").c_str());
      undo();
      return absl::FailedPreconditionError(absl::StrCat(
          svc.name, " exited right after start while something else answered in its place (",
          "another process holds its socket or port?); the end of ", log, ":\n", LogTail(log)));
    }
    out << absl::StrFormat("  %-16s started (pid %d) in %.1fs\n", svc.name, *pid,
                           absl::ToDoubleSeconds(absl::Now() - t0));
    if (svc.name == "launcher") {
      if (auto s = ImportImage(p); !s.ok()) return undo(), s;
    }
  }
  return absl::OkStatus();
}

absl::Status StackDown(const StackOptions& o, std::ostream& out) {
  const StackPaths p = PathsFor(o);
  // Whatever runs, whatever this call's flags say: every service is looked at.
  StackOptions all = o;
  all.monitor = all.nginx = true;
  std::vector<Service> services = StackServices(all, /*every=*/true);
  bool any = false;
  for (const auto& s : services) any |= RunningPid(p, s) != 0;
  if (any && geteuid() != 0) {
    return absl::PermissionDeniedError("the stack runs as root: clawos down needs root too");
  }
  StackLock lock(p.run);
  for (auto it = services.rbegin(); it != services.rend(); ++it) {
    pid_t pid = RunningPid(p, *it);
    if (it->name == "launcher" && pid) StopVms(p, out);
    if (pid) {
      Terminate(pid, o.stop_grace);
      out << absl::StrFormat("  %-16s stopped (pid %d)\n", it->name, pid);
    }
    unlink((p.run + "/" + it->name + ".pid").c_str());
  }
  return absl::OkStatus();
}

std::vector<ServiceStatus> StackStatus(const StackOptions& o) {
  const StackPaths p = PathsFor(o);
  std::vector<ServiceStatus> out;
  for (const Service& s : StackServices(o)) out.push_back({s.name, RunningPid(p, s)});
  return out;
}

}  // namespace clawos::cli
