#include "vm-launcher/agent_ops.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"

namespace clawos::launcher {

absl::StatusOr<apb::ExecExit> RunExec(AgentClient& agent, apb::ExecRequest request,
                                      const std::string& stdin_data, const ExecCallbacks& cb,
                                      absl::Time deadline) {
  if (request.argv().empty()) return absl::InvalidArgumentError("argv is empty");
  auto stream = agent.OpenStream();
  request.set_has_stdin(!stdin_data.empty());
  apb::Frame f;
  *f.mutable_exec_request() = std::move(request);
  RETURN_IF_ERROR(stream->Send(std::move(f)));
  for (size_t off = 0; off < stdin_data.size();) {
    size_t n = std::min(agent::kMaxChunkBytes, stdin_data.size() - off);
    apb::Frame in;
    in.mutable_exec_stdin()->set_data(stdin_data.substr(off, n));
    off += n;
    in.mutable_exec_stdin()->set_eof(off == stdin_data.size());
    RETURN_IF_ERROR(stream->Send(std::move(in)));
  }
  for (;;) {
    absl::Time step = std::min(deadline, absl::Now() + absl::Milliseconds(500));
    auto next = stream->Next(step);
    if (next.status().code() == absl::StatusCode::kDeadlineExceeded && step < deadline) {
      if (cb.cancelled && cb.cancelled()) return absl::CancelledError("exec cancelled");
      continue;
    }
    if (next.status().code() == absl::StatusCode::kDeadlineExceeded) {
      return absl::DeadlineExceededError("the command ran past the call's deadline; killed");
    }
    ASSIGN_OR_RETURN(apb::Frame r, std::move(next));
    switch (r.body_case()) {
      case apb::Frame::kExecStarted:
        if (cb.on_started && !cb.on_started(r.exec_started().pid()))
          return absl::CancelledError("exec cancelled");
        break;
      case apb::Frame::kExecStdout:
      case apb::Frame::kExecStderr: {
        bool err = r.has_exec_stderr();
        const std::string& d = err ? r.exec_stderr().data() : r.exec_stdout().data();
        if (cb.on_output && !cb.on_output(d, err)) return absl::CancelledError("exec cancelled");
        break;
      }
      case apb::Frame::kExecExit:
        stream->End();
        return r.exec_exit();
      default:
        break;
    }
  }
}

absl::StatusOr<ExecOutput> ExecCollect(AgentClient& agent, const std::vector<std::string>& argv,
                                       absl::Time deadline) {
  apb::ExecRequest r;
  for (const auto& a : argv) r.add_argv(a);
  ExecOutput o;
  ExecCallbacks cb;
  cb.on_output = [&o](const std::string& d, bool is_err) {
    (is_err ? o.err : o.out) += d;
    return true;
  };
  ASSIGN_OR_RETURN(o.exit, RunExec(agent, std::move(r), "", cb, deadline));
  return o;
}

absl::StatusOr<apb::FileInfo> PutFile(AgentClient& agent, const apb::FilePut& put,
                                      const ChunkSource& next, absl::Time deadline) {
  auto stream = agent.OpenStream();
  apb::Frame f;
  *f.mutable_file_put() = put;
  RETURN_IF_ERROR(stream->Send(std::move(f)));
  bool eof = false;
  while (!eof) {
    std::string data;
    RETURN_IF_ERROR(next(&data, &eof));
    if (data.size() > agent::kMaxChunkBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("a chunk of ", data.size(), " bytes is over the 512 KiB limit"));
    }
    apb::Frame d;
    d.mutable_file_data()->set_data(std::move(data));
    d.mutable_file_data()->set_eof(eof);
    RETURN_IF_ERROR(stream->Send(std::move(d)));
  }
  for (;;) {
    ASSIGN_OR_RETURN(apb::Frame r, stream->Next(deadline));
    if (r.has_file_info()) {
      stream->End();
      return r.file_info();
    }
  }
}

absl::Status GetFile(AgentClient& agent, const std::string& path,
                     const std::function<bool(const apb::FileInfo&)>& on_info,
                     const std::function<bool(const std::string&)>& on_data, absl::Time deadline) {
  auto stream = agent.OpenStream();
  apb::Frame f;
  f.mutable_file_get()->set_path(path);
  RETURN_IF_ERROR(stream->Send(std::move(f)));
  for (;;) {
    ASSIGN_OR_RETURN(apb::Frame r, stream->Next(deadline));
    if (r.has_file_info()) {
      if (!on_info(r.file_info())) return absl::CancelledError("read cancelled");
    } else if (r.has_file_data()) {
      if (!r.file_data().data().empty() && !on_data(r.file_data().data()))
        return absl::CancelledError("read cancelled");
      if (r.file_data().eof()) {
        stream->End();
        return absl::OkStatus();
      }
    }
  }
}

}  // namespace clawos::launcher
