#include "orchestrator/step_runner.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/crypto/encoding.h"
#include "common/crypto/random.h"
#include "common/duration.h"
#include "common/utf8.h"
#include "orchestrator/template.h"

namespace clawos::orchestrator {
namespace {

// $1 the attempt directory, $2 the working directory, $3 the end marker, then
// the command. First run: mkdir wins, the command starts in its own session
// with its output in files, and the script waits for it. Any later run of the
// same attempt finds the directory and waits for the status file instead. Then
// the stdout (64 KiB + 1 byte, to tell a cut), the stderr tail, the marker and
// the files under /workspace/out (17 at most: one more than are kept), and the
// command's exit code. The command (or, before it started, the wrapper that
// made the directory) is "gone" when neither process is alive for 0.5 s.
constexpr char kWrapper[] = R"SH(d="$1"; wd="$2"; m="$3"; shift 3
# Under TCG every process costs milliseconds: shell builtins where they do.
has_files() {
  for f in /workspace/out/* /workspace/out/.[!.]* /workspace/out/..?*; do
    [ -e "$f" ] || [ -L "$f" ] && return 0
  done
  return 1
}
finish() {
  [ -s "$d/stdout" ] && head -c 65537 "$d/stdout"
  [ -s "$d/stderr" ] && tail -c 16384 "$d/stderr" >&2
  printf '\n%s\n' "$m" >&2
  has_files && find /workspace/out -type f | head -n 17 >&2
  rc=250
  [ -f "$d/rc" ] && read -r rc < "$d/rc"
  exit "${rc:-250}"
}
if mkdir "$d" 2>/dev/null || { [ ! -e "$d" ] && mkdir -p "${d%/*}" && mkdir "$d" 2>/dev/null; }; then
  echo $$ > "$d/wpid"
  if has_files || [ ! -d /workspace/out ]; then rm -rf /workspace/out; mkdir -p /workspace/out; fi
  if ! cd "$wd" 2>/dev/null; then
    : > "$d/stdout"; echo "clawos: working directory $wd does not exist" > "$d/stderr"; echo 126 > "$d/rc"
    finish
  fi
  export CLAWOS_STEP_DIR="$d"
  setsid sh -c 'd="$1"; shift; echo $$ > "$d/pid"; "$@" > "$d/stdout" 2> "$d/stderr" < /dev/null; echo $? > "$d/rc.tmp"; mv "$d/rc.tmp" "$d/rc"' clawos-step "$d" "$@" &
  wait $!
fi
gone=0
while [ ! -f "$d/rc" ]; do
  p=; w=
  [ -f "$d/pid" ] && read -r p < "$d/pid"
  [ -f "$d/wpid" ] && read -r w < "$d/wpid"
  if { [ -n "$p" ] && kill -0 "$p" 2>/dev/null; } || { [ -z "$p" ] && [ -n "$w" ] && kill -0 "$w" 2>/dev/null; }; then
    gone=0
  else
    gone=$((gone + 1))
  fi
  if [ "$gone" -ge 5 ] && [ ! -f "$d/rc" ]; then
    echo "clawos: the step's process ended without an exit status" >> "$d/stderr"; echo 250 > "$d/rc"
  fi
  sleep 0.1
done
finish
)SH";

constexpr int kLostExit = 250;

std::string Marker() {
  auto bytes = crypto::RandomBytes(12);
  std::string m = "--clawos-end-";
  if (!bytes.ok()) return m + std::to_string(absl::ToUnixNanos(absl::Now())) + "--";
  return m + crypto::HexEncode(*bytes) + "--";
}

// A prompt step's transcript, or its last 256 KiB when it is longer.
std::string ReadTranscript(LauncherOps& launcher, const std::string& vm, const std::string& path) {
  auto t = launcher.GetFile(vm, path, kMaxTranscript);
  if (t.ok()) return ToValidUtf8(*t);
  if (!absl::IsFailedPrecondition(t.status())) return "";
  ExecRequest req;
  req.vm = vm;
  req.argv = {"tail", "-c", std::to_string(kMaxTranscript), path};
  req.timeout = absl::Seconds(30);
  auto r = launcher.Exec(req, kMaxTranscript, 1024, nullptr);
  return r.ok() ? ToValidUtf8(r->stdout_data.substr(0, kMaxTranscript)) : "";
}

}  // namespace

std::string AttemptDir(const std::string& step, int attempt) {
  return absl::StrCat("/var/clawos/steps/", step, "-", attempt);
}

void KillAttempt(LauncherOps& launcher, const std::string& vm, const std::string& step,
                 int attempt) {
  ExecRequest req;
  req.vm = vm;
  req.argv = {"sh", "-c", "p=$(cat \"$1/pid\" 2>/dev/null) && kill -9 -\"$p\" 2>/dev/null; true",
              "clawos-kill", AttemptDir(step, attempt)};
  req.timeout = absl::Seconds(20);
  (void)launcher.Exec(req, 1024, 1024, nullptr);
}

AttemptOutcome RunAttempt(LauncherOps& launcher, const AttemptPlan& plan,
                          const std::function<void(CancelToken*)>& register_cancel,
                          const std::function<bool()>& cancelled) {
  AttemptOutcome out;
  out.output.attempt = plan.attempt;
  const std::string dir = AttemptDir(plan.step, plan.attempt);
  auto fail = [&](std::string why) {
    out.cancelled = cancelled();
    out.error = out.cancelled ? "cancelled" : std::move(why);
    return out;
  };

  for (const auto& [dep, files] : plan.inputs) {
    for (const auto& f : files) {
      if (!f.skipped.empty()) continue;
      absl::Status s =
          launcher.PutFile(plan.vm, absl::StrCat("/workspace/in/", dep, "/", f.path), f.content);
      if (!s.ok())
        return fail(absl::StrCat("copying the output of \"", dep, "\" in: ", s.message()));
    }
  }
  std::vector<std::string> command = plan.argv;
  if (plan.prompt) {
    std::string prompt_file =
        absl::StrCat("/var/clawos/prompts/", plan.step, "-", plan.attempt, ".txt");
    absl::Status s = launcher.PutFile(plan.vm, prompt_file, plan.prompt_text);
    if (!s.ok()) return fail(absl::StrCat("writing the prompt: ", s.message()));
    command = {"clawos-agent",     "run",
               "--model",          plan.model,
               "--max-iterations", absl::StrCat(plan.max_iterations),
               "--prompt-file",    prompt_file};
  }

  const std::string marker = Marker();
  ExecRequest req;
  req.vm = plan.vm;
  req.argv = {"sh", "-c", kWrapper, "clawos-step", dir, plan.workdir, marker};
  req.argv.insert(req.argv.end(), command.begin(), command.end());
  req.env = plan.env;
  const absl::Time deadline = absl::Now() + plan.timeout;
  // UNAVAILABLE: the launcher restarted or the agent channel broke while the
  // command may still run in the guest. The wrapper is idempotent, so running
  // it again attaches to the same command; it never starts another.
  absl::StatusOr<ExecResult> result = RetryWhileUnavailable(deadline, cancelled, [&] {
    req.timeout = std::max(deadline - absl::Now(), absl::Seconds(1));
    return launcher.Exec(req, kMaxStdout, kMaxStderrTail + 64 * 1024, register_cancel);
  });
  const std::string limit = clawos::FormatDuration(plan.step_timeout);
  if (!result.ok()) {
    // A VM that is not running any more took the command with it.
    if (!cancelled() && !absl::IsFailedPrecondition(result.status())) {
      KillAttempt(launcher, plan.vm, plan.step, plan.attempt);
    }
    if (absl::IsUnavailable(result.status()) && absl::Now() + absl::Seconds(1) >= deadline) {
      return fail(absl::StrCat("timed out after ", limit,
                               " (the launcher was unavailable: ", result.status().message(), ")"));
    }
    return fail(std::string(result.status().message()));
  }
  if (result->timed_out) {
    KillAttempt(launcher, plan.vm, plan.step, plan.attempt);
    return fail(absl::StrCat("timed out after ", limit));
  }

  StepOutputData& o = out.output;
  o.exit_code = result->exit_code;
  o.stdout_truncated = result->stdout_data.size() > kMaxStdout;
  o.stdout_text = ToValidUtf8(std::string_view(result->stdout_data).substr(0, kMaxStdout));
  std::string_view err = result->stderr_data;
  std::string listing;
  size_t at = err.rfind("\n" + marker + "\n");
  if (at != std::string_view::npos) {
    listing = std::string(err.substr(at + marker.size() + 2));
    err = err.substr(0, at);
  }
  if (err.size() > kMaxStderrTail) err = err.substr(err.size() - kMaxStderrTail);
  o.stderr_tail = ToValidUtf8(err);

  // The listing comes from the guest, which the step controls: every path is
  // checked before it is used (it is later written into other VMs).
  int n = 0;
  size_t total = 0;
  for (absl::string_view line : absl::StrSplit(listing, '\n', absl::SkipEmpty())) {
    if (line.rfind("/workspace/out/", 0) != 0) continue;
    OutputFileData f;
    std::string rel(line.substr(15));
    f.path = ToValidUtf8(rel);
    if (++n > kMaxFiles) {
      f.skipped = absl::StrCat("more than ", kMaxFiles, " files");
    } else if (!IsSafeRelativePath(rel) || f.path != rel) {
      f.skipped = "not a plain relative path";
    } else if (total >= kMaxFilesTotal) {
      f.skipped = absl::StrCat("the step's files exceed ", kMaxFilesTotal >> 20, " MiB in all");
    } else {
      auto content = launcher.GetFile(plan.vm, std::string(line),
                                      std::min(kMaxFileBytes, kMaxFilesTotal - total));
      if (content.ok()) {
        f.size = content->size();
        total += content->size();
        f.content = std::move(*content);
      } else {
        f.skipped = ToValidUtf8(std::string(content.status().message()));
      }
    }
    o.files.push_back(std::move(f));
  }
  if (plan.prompt) o.transcript = ReadTranscript(launcher, plan.vm, dir + "/transcript.jsonl");

  if (result->exit_code == kLostExit &&
      o.stderr_tail.find("ended without an exit status") != std::string::npos) {
    return fail("the step's process ended without an exit status (killed?)");
  }
  if (result->exit_code != 0) {
    return fail(result->signal ? absl::StrCat("killed by signal ", result->signal)
                               : absl::StrCat("exit code ", result->exit_code));
  }
  out.succeeded = true;
  return out;
}

}  // namespace clawos::orchestrator
