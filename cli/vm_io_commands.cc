#include "cli/vm_io_commands.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "cli/api_client.h"
#include "cli/guest_file.h"
#include "cli/launcher_client.h"
#include "cli/terminal_text.h"
#include "common/crypto/encoding.h"
#include "common/crypto/sha256.h"
#include "common/duration.h"
#include "common/files.h"
#include "common/grpc_util.h"

namespace clawos::cli {
namespace {

constexpr size_t kChunk = 512 << 10;
constexpr char kExecVm[] = "clawos.launcher.v1.LauncherService.ExecVm";
constexpr char kStreamVmLogs[] = "clawos.launcher.v1.LauncherService.StreamVmLogs";
constexpr char kPutVmFile[] = "clawos.launcher.v1.LauncherService.PutVmFile";
constexpr char kGetVmFile[] = "clawos.launcher.v1.LauncherService.GetVmFile";

struct ExecFlags {
  std::string name, workdir;
  std::vector<std::string> argv, env;
  std::string timeout;
  bool stdin_data = false;
};

void WriteOut(FILE* f, const std::string& d) {
  fwrite(d.data(), 1, d.size(), f);
  fflush(f);
}

int Exec(const Context& ctx, const ExecFlags& f) {
  lpb::ExecVmRequest req;
  req.set_name(VmName(f.name));
  for (const auto& a : f.argv) req.add_argv(a);
  for (const std::string& kv : f.env) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return ReportError("vm exec",
                         absl::InvalidArgumentError("--env \"" + kv + "\" is not KEY=VALUE"));
    }
    (*req.mutable_env())[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  req.set_working_dir(f.workdir);
  if (!f.timeout.empty()) {
    auto d = clawos::ParseDuration(f.timeout);
    if (!d.ok()) return ReportError("vm exec", d.status());
    *req.mutable_timeout() = ToProtoDuration(*d);
  }
  auto api = MakeApiClient(ctx);
  if (!api.ok()) return ReportError("vm exec", api.status());
  if (f.stdin_data) req.set_stdin_data(ReadStdin());
  int code = 0;
  bool exited = false;
  absl::Status s =
      (*api)->Each<lpb::ExecVmResponse>(kExecVm, req, [&](const lpb::ExecVmResponse& m) {
        if (m.has_stdout_chunk()) WriteOut(stdout, m.stdout_chunk());
        if (m.has_stderr_chunk()) WriteOut(stderr, m.stderr_chunk());
        if (m.has_exit()) {
          exited = true;
          const auto& e = m.exit();
          if (e.timed_out()) {
            std::cerr << "clawos: vm exec: the command ran past its timeout and was killed\n";
            code = 124;
          } else if (e.signal() != 0) {
            code = 128 + e.signal();
          } else {
            code = e.exit_code();
          }
        }
        return absl::OkStatus();
      });
  if (!s.ok()) return ReportError("vm exec", s);
  if (!exited)
    return ReportError("vm exec", absl::UnavailableError("the stream ended without an exit"));
  return code;
}

int Logs(const Context& ctx, const std::string& name, bool follow, int tail,
         const std::string& source) {
  lpb::StreamVmLogsRequest req;
  req.set_name(VmName(name));
  req.set_follow(follow);
  req.set_tail_lines(tail);
  if (source == "console") req.add_sources(lpb::LOG_SOURCE_SERIAL_CONSOLE);
  if (source == "agent") req.add_sources(lpb::LOG_SOURCE_AGENT);
  auto api = MakeApiClient(ctx);
  if (!api.ok()) return ReportError("vm logs", api.status());
  absl::Status s = (*api)->Each<lpb::LogEntry>(kStreamVmLogs, req, [&ctx](const lpb::LogEntry& e) {
    if (ctx.json()) {
      std::string j = ToJson(e);
      j.erase(std::remove(j.begin(), j.end(), '\n'), j.end());
      std::cout << j << std::endl;
    } else if (e.source() == lpb::LOG_SOURCE_AGENT) {
      std::cout << "[agent " << TerminalSafeLine(e.level()) << "] " << TerminalSafe(e.text())
                << std::endl;
    } else {
      std::cout << TerminalSafe(e.text()) << std::endl;
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return ReportError("vm logs", s);
  return 0;
}

// "NAME:/path" → {NAME, /path}; a local path → {"", path}.
std::pair<std::string, std::string> SplitRemote(const std::string& arg) {
  size_t colon = arg.find(':');
  if (colon == std::string::npos || colon == 0 || arg.find('/') < colon) return {"", arg};
  return {arg.substr(0, colon), arg.substr(colon + 1)};
}

int CopyIn(const Context& ctx, const std::string& local, const std::string& vm,
           const std::string& path) {
  // Up to the launcher's own bound for one file (1 GiB), not ReadFile's default.
  auto content =
      local == "-" ? absl::StatusOr<std::string>(ReadStdin()) : ReadFile(local, size_t{1} << 30);
  if (!content.ok()) return ReportError("vm cp", content.status());
  auto api = MakeApiClient(ctx);
  if (!api.ok()) return ReportError("vm cp", api.status());
  lpb::PutVmFileRequest h;
  auto* hdr = h.mutable_header();
  hdr->set_name(VmName(vm));
  hdr->set_path(path);
  hdr->set_create_parents(true);
  hdr->set_overwrite(true);
  hdr->set_sha256(crypto::HexEncode(crypto::Sha256Of(*content)));
  if (local != "-") {
    struct stat st {};
    if (::stat(local.c_str(), &st) == 0) hdr->set_mode(st.st_mode & 0777);
  }
  bool header_sent = false;
  size_t off = 0;
  auto sent = (*api)->Send<lpb::VmFile, lpb::PutVmFileRequest>(
      kPutVmFile, [&](lpb::PutVmFileRequest* next) -> absl::StatusOr<bool> {
        if (!header_sent) {
          header_sent = true;
          *next = h;
          return true;
        }
        if (off >= content->size()) return false;
        next->set_data(content->substr(off, kChunk));
        off += kChunk;
        return true;
      });
  if (!sent.ok()) return ReportError("vm cp", sent.status());
  const lpb::VmFile& resp = *sent;
  if (!ctx.json()) {
    std::cerr << "copied " << resp.size_bytes() << " bytes to " << vm << ":" << resp.path()
              << " (sha256 " << resp.sha256().substr(0, 16) << "..)\n";
  }
  return 0;
}

// One message of GetVmFile into `w`.
absl::Status Receive(const lpb::GetVmFileResponse& m, GuestFileWriter& w) {
  if (m.has_file()) return w.Header(m.file().size_bytes(), m.file().mode());
  if (m.has_data()) return w.Data(m.data());
  return absl::OkStatus();
}

// Streams the guest's file into `local` (a file, a directory, or - for
// stdout) without holding it: see GuestFileWriter.
int CopyOut(const Context& ctx, const std::string& vm, const std::string& path,
            const std::string& local) {
  std::unique_ptr<GuestFileWriter> w;
  if (local == "-") {
    w = GuestFileWriter::ToFd(STDOUT_FILENO);
  } else {
    auto target = CopyTarget(local, path);
    if (!target.ok()) return ReportError("vm cp", target.status());
    auto made = GuestFileWriter::ToFile(*target);
    if (!made.ok()) return ReportError("vm cp", made.status());
    w = *std::move(made);
  }
  auto api = MakeApiClient(ctx);
  if (!api.ok()) return ReportError("vm cp", api.status());
  lpb::GetVmFileRequest req;
  req.set_name(VmName(vm));
  req.set_path(path);
  // A refusal by the writer cancels the stream: the guest's transfer stops.
  absl::Status s = (*api)->Each<lpb::GetVmFileResponse>(
      kGetVmFile, req, [&](const lpb::GetVmFileResponse& m) { return Receive(m, *w); });
  if (!s.ok()) return ReportError("vm cp", s);
  if (auto f = w->Finish(); !f.ok()) return ReportError("vm cp", f);
  if (local != "-" && !ctx.json()) {
    std::cerr << "copied " << w->received() << " bytes from " << TerminalSafeLine(vm) << ":"
              << TerminalSafeLine(path) << " to " << TerminalSafeLine(w->target()) << "\n";
  }
  return 0;
}

}  // namespace

void AddVmIoCommands(CLI::App& vm, Context& ctx, int& rc) {
  auto ef = std::make_shared<ExecFlags>();
  auto* exec = vm.add_subcommand(
      "exec", "Run a command in a VM: `clawos vm exec NAME -- CMD ARGS...`; exits with its code");
  exec->add_option("name", ef->name, "VM id")->required();
  exec->add_option("command", ef->argv, "The command and its arguments (after --)")->required();
  exec->add_option("--env", ef->env, "KEY=VALUE (repeatable)");
  exec->add_option("--workdir", ef->workdir, "Working directory in the guest (default /workspace)");
  exec->add_option("--timeout", ef->timeout, "Kill the command after this long, e.g. 30s");
  exec->add_flag("-i,--stdin", ef->stdin_data, "Send this process's stdin to the command");
  exec->callback([&ctx, &rc, ef] { rc = Exec(ctx, *ef); });

  struct LogFlags {
    std::string name, source = "all";
    bool follow = false;
    int tail = 0;
  };
  auto lf = std::make_shared<LogFlags>();
  auto* logs = vm.add_subcommand("logs", "A VM's console and agent log lines");
  logs->add_option("name", lf->name, "VM id")->required();
  logs->add_flag("-f,--follow", lf->follow, "Keep streaming new lines while the VM runs");
  logs->add_option("--tail", lf->tail, "Only the last N lines");
  logs->add_option("--source", lf->source, "console, agent or all")
      ->check(CLI::IsMember({"console", "agent", "all"}));
  logs->callback([&ctx, &rc, lf] { rc = Logs(ctx, lf->name, lf->follow, lf->tail, lf->source); });

  auto src = std::make_shared<std::string>();
  auto dst = std::make_shared<std::string>();
  auto* cp = vm.add_subcommand(
      "cp",
      "Copy a file into or out of a VM: `vm cp FILE NAME:/path` or `vm cp NAME:/path FILE` "
      "(uploads through the control plane up to about 750 KiB; --direct for bigger files)");
  cp->add_option("src", *src, "Source (a local path, - for stdin, or NAME:/path)")->required();
  cp->add_option("dst", *dst, "Destination (a local path, - for stdout, or NAME:/path)")
      ->required();
  cp->callback([&ctx, &rc, src, dst] {
    auto [svm, spath] = SplitRemote(*src);
    auto [dvm, dpath] = SplitRemote(*dst);
    if (svm.empty() == dvm.empty()) {
      rc = ReportError(
          "vm cp", absl::InvalidArgumentError("exactly one side must be NAME:/path (a VM's file)"));
      return;
    }
    rc = dvm.empty() ? CopyOut(ctx, svm, spath, dpath) : CopyIn(ctx, *src, dvm, dpath);
  });
}

}  // namespace clawos::cli
