#include "agent/tools.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include "agent/util.h"

namespace clawos::agent {
namespace {

nlohmann::json Function(const char* name, const char* description, nlohmann::json properties,
                        nlohmann::json required) {
  return {
      {"type", "function"},
      {"function",
       {{"name", name},
        {"description", description},
        {"parameters", {{"type", "object"}, {"properties", properties}, {"required", required}}}}}};
}

// Appends to `out` up to kMaxToolOutput; counts what was dropped.
void Keep(std::string* out, size_t* dropped, const char* data, size_t n) {
  size_t room = out->size() < kMaxToolOutput ? kMaxToolOutput - out->size() : 0;
  out->append(data, std::min(room, n));
  *dropped += n - std::min(room, n);
}

ToolResult Shell(const std::string& command, int timeout_s) {
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    return {std::string("error: pipe: ") + std::strerror(errno), 1};
  }
  pid_t pid = fork();
  if (pid < 0) return {std::string("error: fork: ") + std::strerror(errno), 1};
  if (pid == 0) {
    setpgid(0, 0);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  std::string out, err;
  size_t dropped = 0;
  bool timed_out = false;
  int64_t deadline = NowMs() + int64_t{timeout_s} * 1000;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  int status = 0;
  bool exited = false;
  int64_t exit_seen_ms = 0;
  while (open_fds > 0) {
    if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      exit_seen_ms = NowMs();
    }
    // A background child (`server &`) holds the pipes open: the command is
    // done a moment after the shell exits; the child keeps running.
    if (exited && NowMs() - exit_seen_ms > 200) break;
    int64_t left = deadline - NowMs();
    if (left <= 0) {
      timed_out = true;
      kill(-pid, SIGKILL);
      break;
    }
    int wait_ms = static_cast<int>(std::min<int64_t>(left, exited ? 50 : 100));
    if (poll(fds, 2, wait_ms) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[8192];
      ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        Keep(i == 0 ? &out : &err, &dropped, buf, n);
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  while (!exited && waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ostringstream text;
  text << "exit code " << code;
  if (timed_out) text << " (killed after " << timeout_s << " s)";
  text << "\n--- stdout ---\n" << out << "\n--- stderr ---\n" << err;
  if (dropped) text << "\n[" << dropped << " more bytes not shown]";
  return {text.str(), code};
}

ToolResult ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {"error: cannot read " + path + ": " + std::strerror(errno), 1};
  std::string data(kMaxToolOutput + 1, '\0');
  in.read(data.data(), data.size());
  data.resize(in.gcount());
  if (data.size() > kMaxToolOutput) {
    data.resize(kMaxToolOutput);
    data += "\n[truncated at 32 KiB]";
  }
  return {data, 0};
}

ToolResult WriteFile(const std::string& path, const std::string& content) {
  if (!ValidPath(path)) return {"error: path must be an absolute file path", 1};
  if (!MakeParents(Parent(path))) {
    return {"error: cannot create " + Parent(path) + ": " + std::strerror(errno), 1};
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return {"error: cannot write " + path + ": " + std::strerror(errno), 1};
  out << content;
  out.close();
  if (!out) return {"error: writing " + path + " failed: " + std::strerror(errno), 1};
  return {"wrote " + std::to_string(content.size()) + " bytes to " + path, 0};
}

}  // namespace

nlohmann::json ToolSchemas() {
  return nlohmann::json::array(
      {Function("shell",
                "Run a shell command (sh -c) in the VM; returns its exit code, stdout and stderr.",
                {{"command", {{"type", "string"}}}, {"timeout_s", {{"type", "integer"}}}},
                {"command"}),
       Function("read_file", "Read a file in the VM (at most 32 KiB).",
                {{"path", {{"type", "string"}}}}, {"path"}),
       Function("write_file", "Write a file in the VM (parents are created).",
                {{"path", {{"type", "string"}}}, {"content", {{"type", "string"}}}},
                {"path", "content"})});
}

ToolResult RunTool(const std::string& name, const std::string& arguments) {
  auto args = nlohmann::json::parse(arguments, nullptr, false);
  if (!args.is_object()) return {"error: the arguments are not a JSON object", 1};
  auto str = [&](const char* key) -> const std::string* {
    auto it = args.find(key);
    return it != args.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
  };
  if (name == "shell") {
    const std::string* cmd = str("command");
    if (!cmd) return {"error: shell needs a string \"command\"", 1};
    int timeout = 60;
    if (args.contains("timeout_s") && args["timeout_s"].is_number_integer()) {
      timeout = std::clamp(args["timeout_s"].get<int>(), 1, 600);
    }
    return Shell(*cmd, timeout);
  }
  if (name == "read_file") {
    const std::string* path = str("path");
    if (!path) return {"error: read_file needs a string \"path\"", 1};
    return ReadFile(*path);
  }
  if (name == "write_file") {
    const std::string *path = str("path"), *content = str("content");
    if (!path || !content) return {"error: write_file needs string \"path\" and \"content\"", 1};
    return WriteFile(*path, *content);
  }
  return {"error: unknown tool \"" + name + "\" (shell, read_file, write_file)", 1};
}

}  // namespace clawos::agent
