#include "orchestrator/launcher_ops.h"

#include "absl/strings/str_cat.h"
#include "clawos/launcher/v1/launcher.grpc.pb.h"
#include "common/grpc_client.h"
#include "common/grpc_util.h"
#include "common/status.h"

namespace clawos::orchestrator {
namespace {

namespace lpb = ::clawos::launcher::v1;

constexpr absl::Duration kStartTimeout = absl::Minutes(5);

class ContextCancel : public CancelToken {
 public:
  explicit ContextCancel(grpc::ClientContext* ctx) : ctx_(ctx) {}
  void Cancel() override { ctx_->TryCancel(); }

 private:
  grpc::ClientContext* ctx_;
};

VmInfo Info(const lpb::Vm& vm) {
  VmInfo info;
  info.exists = true;
  info.running = vm.state() == lpb::Vm::RUNNING;
  info.state = lpb::Vm::State_Name(vm.state());
  info.subject = vm.agent_subject();
  info.labels.insert(vm.spec().labels().begin(), vm.spec().labels().end());
  return info;
}

absl::Status CheckOwner(const VmInfo& info, const VmRequest& r) {
  if (!info.exists) {
    return absl::AbortedError(absl::StrCat("vms/", r.id, " vanished while it was being made"));
  }
  if (HasLabels(info, r.labels)) return absl::OkStatus();
  for (const auto& [k, v] : r.labels) {
    auto it = info.labels.find(k);
    if (it == info.labels.end() || it->second != v) {
      return absl::FailedPreconditionError(
          absl::StrCat("vms/", r.id, " exists but is not this one's (label ", k, "=",
                       it == info.labels.end() ? "" : it->second, ", expected ", v, ")"));
    }
  }
  return absl::FailedPreconditionError(absl::StrCat("vms/", r.id, " is not this one's"));
}

class GrpcLauncherOps : public LauncherOps {
 public:
  explicit GrpcLauncherOps(std::shared_ptr<grpc::Channel> channel)
      : stub_(lpb::LauncherService::NewStub(channel)) {}

  absl::StatusOr<VmInfo> GetVm(const std::string& id) override {
    lpb::GetVmRequest req;
    req.set_name("vms/" + id);
    lpb::Vm vm;
    absl::Status s = CallStub(*stub_, &lpb::LauncherService::Stub::GetVm, req, &vm);
    if (absl::IsNotFound(s)) return VmInfo{};
    if (!s.ok()) return s;
    return Info(vm);
  }

  absl::StatusOr<VmInfo> EnsureRunning(
      const VmRequest& r, const std::function<void(const VmInfo&)>& on_owned) override {
    ASSIGN_OR_RETURN(VmInfo info, GetVm(r.id));
    if (!info.exists) {
      lpb::CreateVmRequest req;
      req.set_vm_id(r.id);
      auto* spec = req.mutable_spec();
      spec->set_image(r.image);
      spec->set_vcpus(r.vcpus);
      spec->set_memory_mib(r.memory_mib);
      for (const auto& [k, v] : r.env) (*spec->mutable_env())[k] = v;
      for (const auto& [k, v] : r.labels) (*spec->mutable_labels())[k] = v;
      lpb::Vm vm;
      absl::Status s = CallStub(*stub_, &lpb::LauncherService::Stub::CreateVm, req, &vm);
      if (s.ok()) {
        info = Info(vm);
      } else if (absl::IsAlreadyExists(s)) {
        ASSIGN_OR_RETURN(info, GetVm(r.id));  // created by someone else meanwhile
      } else {
        return Annotate(s, "creating vms/" + r.id);
      }
    }
    RETURN_IF_ERROR(CheckOwner(info, r));
    if (on_owned) on_owned(info);
    if (info.running) return info;
    lpb::StartVmRequest req;
    req.set_name("vms/" + r.id);
    lpb::Vm vm;
    absl::Status s =
        CallStub(*stub_, &lpb::LauncherService::Stub::StartVm, req, &vm, kStartTimeout);
    if (absl::IsFailedPrecondition(s)) {
      // Started meanwhile (STARTING/RUNNING): look again.
      ASSIGN_OR_RETURN(info, GetVm(r.id));
      RETURN_IF_ERROR(CheckOwner(info, r));
      if (info.running) return info;
    }
    if (!s.ok()) return Annotate(s, "starting vms/" + r.id);
    return Info(vm);
  }

  absl::Status StopVm(const std::string& id) override {
    lpb::StopVmRequest req;
    req.set_name("vms/" + id);
    *req.mutable_timeout() = ToProtoDuration(absl::Seconds(10));
    lpb::Vm vm;
    absl::Status s = CallStub(*stub_, &lpb::LauncherService::Stub::StopVm, req, &vm);
    if (absl::IsNotFound(s)) return absl::OkStatus();
    return s;
  }

  absl::Status DeleteVm(const std::string& id) override {
    lpb::DeleteVmRequest req;
    req.set_name("vms/" + id);
    req.set_force(true);
    google::protobuf::Empty empty;
    absl::Status s =
        CallStub(*stub_, &lpb::LauncherService::Stub::DeleteVm, req, &empty, absl::Minutes(1));
    if (absl::IsNotFound(s)) return absl::OkStatus();
    return Annotate(s, "deleting vms/" + id);
  }

  absl::StatusOr<ExecResult> Exec(const ExecRequest& r, size_t max_stdout, size_t max_stderr,
                                  const std::function<void(CancelToken*)>& on_start) override {
    lpb::ExecVmRequest req;
    req.set_name("vms/" + r.vm);
    for (const auto& a : r.argv) req.add_argv(a);
    for (const auto& [k, v] : r.env) (*req.mutable_env())[k] = v;
    absl::Duration deadline = absl::Hours(25);
    if (r.timeout) {
      *req.mutable_timeout() = ToProtoDuration(*r.timeout);
      deadline = *r.timeout + absl::Minutes(1);
    }
    auto ctx = MakeClientContext(deadline);
    ContextCancel token(ctx.get());
    if (on_start) on_start(&token);
    auto reader = stub_->ExecVm(ctx.get(), req);
    ExecResult result;
    bool exited = false;
    lpb::ExecVmResponse msg;
    while (reader->Read(&msg)) {
      if (msg.has_stdout_chunk()) {
        size_t room = max_stdout + 1 > result.stdout_data.size()
                          ? max_stdout + 1 - result.stdout_data.size()
                          : 0;
        result.stdout_data.append(msg.stdout_chunk().substr(0, room));
      } else if (msg.has_stderr_chunk()) {
        result.stderr_data.append(msg.stderr_chunk());
        if (result.stderr_data.size() > 2 * max_stderr) {
          result.stderr_data.erase(0, result.stderr_data.size() - max_stderr);
        }
      } else if (msg.has_exit()) {
        exited = true;
        result.exit_code = msg.exit().exit_code();
        result.signal = msg.exit().signal();
        result.timed_out = msg.exit().timed_out();
      }
    }
    if (on_start) on_start(nullptr);
    absl::Status s = FromGrpcStatus(reader->Finish());
    if (!s.ok()) return Annotate(s, absl::StrCat("exec in vms/", r.vm));
    if (!exited)
      return absl::UnavailableError(absl::StrCat("exec in vms/", r.vm, " ended without an exit"));
    if (result.stderr_data.size() > max_stderr) {
      result.stderr_data.erase(0, result.stderr_data.size() - max_stderr);
    }
    return result;
  }

  absl::StatusOr<std::string> GetFile(const std::string& vm, const std::string& path,
                                      size_t max_bytes) override {
    lpb::GetVmFileRequest req;
    req.set_name("vms/" + vm);
    req.set_path(path);
    auto ctx = MakeClientContext(absl::Minutes(2));
    auto reader = stub_->GetVmFile(ctx.get(), req);
    std::string out;
    lpb::GetVmFileResponse msg;
    bool too_big = false;
    while (reader->Read(&msg)) {
      if (msg.has_file() && static_cast<size_t>(msg.file().size_bytes()) > max_bytes) {
        too_big = true;
        ctx->TryCancel();
        break;
      }
      if (msg.has_data()) out.append(msg.data());
      if (out.size() > max_bytes) {
        too_big = true;
        ctx->TryCancel();
        break;
      }
    }
    absl::Status s = FromGrpcStatus(reader->Finish());
    if (too_big)
      return absl::FailedPreconditionError(
          absl::StrCat(path, " is larger than ", max_bytes, " bytes"));
    if (!s.ok()) return s;
    return out;
  }

  absl::Status PutFile(const std::string& vm, const std::string& path,
                       const std::string& content) override {
    auto ctx = MakeClientContext(absl::Minutes(2));
    lpb::VmFile file;
    auto writer = stub_->PutVmFile(ctx.get(), &file);
    lpb::PutVmFileRequest msg;
    auto* h = msg.mutable_header();
    h->set_name("vms/" + vm);
    h->set_path(path);
    h->set_mode(0644);
    h->set_create_parents(true);
    h->set_overwrite(true);
    bool ok = writer->Write(msg);
    for (size_t off = 0; ok && off < content.size(); off += 512 * 1024) {
      msg.Clear();
      msg.set_data(content.substr(off, 512 * 1024));
      ok = writer->Write(msg);
    }
    writer->WritesDone();
    return Annotate(FromGrpcStatus(writer->Finish()),
                    absl::StrCat("writing ", path, " in vms/", vm));
  }

 private:
  std::unique_ptr<lpb::LauncherService::Stub> stub_;
};

}  // namespace

bool HasLabels(const VmInfo& vm, const std::map<std::string, std::string>& labels) {
  if (!vm.exists) return false;
  for (const auto& [k, v] : labels) {
    auto it = vm.labels.find(k);
    if (it == vm.labels.end() || it->second != v) return false;
  }
  return true;
}

std::unique_ptr<LauncherOps> MakeGrpcLauncherOps(std::shared_ptr<grpc::Channel> channel) {
  return std::make_unique<GrpcLauncherOps>(std::move(channel));
}

}  // namespace clawos::orchestrator
