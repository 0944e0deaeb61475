#include "vm-launcher/launcher_service.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/grpc_generic.h"
#include "common/grpc_server.h"
#include "common/grpc_status.h"
#include "common/grpc_util.h"
#include "common/request_id.h"
#include "common/status.h"
#include "vm-launcher/agent_ops.h"
#include "vm-launcher/vm_proto.h"

namespace clawos::launcher {
namespace {

grpc::Status Err(const absl::Status& s) { return ToGrpcStatus(s); }
grpc::Status Invalid(const std::string& m) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, m);
}

// The call's own deadline, or `fallback` from now when it has none.
absl::Time Deadline(const grpc::ServerContext& ctx, absl::Duration fallback) {
  absl::Time d = absl::FromChrono(ctx.deadline());
  absl::Time limit = absl::Now() + fallback;
  return d < limit ? d : limit;
}

// A start ends with its caller: at the call's deadline or when it cancels.
StartOptions CallerOf(grpc::ServerContext* ctx) {
  StartOptions o;
  o.deadline = absl::FromChrono(ctx->deadline());
  o.cancelled = [ctx] { return ctx->IsCancelled(); };
  return o;
}

constexpr size_t kMaxStdin = 1 << 20;
// Files moved through the launcher: bounded, so one call cannot fill the host's memory
// or the guest's disk unnoticed.
constexpr int64_t kMaxFileBytes = int64_t{1} << 30;

}  // namespace

void LauncherService::ToProto(const Vm& vm, bool trusted, lpb::Vm* out) const {
  VmToProto(vm, l_.host().CgroupPath(vm.spec.name), trusted, out);
  if (!l_.config().jail) out->set_jail_uid(0);  // kept in the store for when the jail is on
  if (auto nic = l_.host().Nic(vm.net_slot)) {
    out->mutable_network()->set_tap_device(nic->tap);
    out->mutable_network()->set_mac_address(nic->mac);
    out->mutable_network()->set_ip_address(nic->ip);
  }
}

grpc::Status LauncherService::CreateVm(Ctx* ctx, const lpb::CreateVmRequest* req, lpb::Vm* resp) {
  if (auto s = ValidateVmName(req->vm_id()); !s.ok()) return Err(Annotate(s, "vm_id"));
  auto spec = SpecFromProto(req->vm_id(), req->spec());
  if (!spec.ok()) return Err(spec.status());
  auto vm = l_.CreateVm(*spec);
  if (!vm.ok()) return Err(vm.status());
  if (req->start()) {
    vm = l_.StartVm(req->vm_id(), CallerOf(ctx));
    if (!vm.ok()) return Err(vm.status());
  }
  ToProto(*vm, true, resp);
  return grpc::Status::OK;
}

grpc::Status LauncherService::GetVm(Ctx* ctx, const lpb::GetVmRequest* req, lpb::Vm* resp) {
  auto id = VmIdFromName(req->name());
  if (!id.ok()) return Err(id.status());
  auto vm = l_.GetVm(*id);
  if (!vm.ok()) return Err(vm.status());
  ToProto(*vm, IsTrustedPeer(*ctx), resp);
  return grpc::Status::OK;
}

grpc::Status LauncherService::ListVms(Ctx* ctx, const lpb::ListVmsRequest* req,
                                      lpb::ListVmsResponse* resp) {
  auto size = PageSize(req->page_size());
  if (!size.ok()) return Err(size.status());
  auto filter = VmFilter::Parse(req->filter());
  if (!filter.ok()) return Err(filter.status());
  std::string after;
  if (!req->page_token().empty()) {
    auto t = DecodePageToken(req->page_token());
    if (!t.ok()) return Err(t.status());
    after = *t;
  }
  bool trusted = IsTrustedPeer(*ctx);
  for (const Vm& vm : l_.ListVms()) {  // ordered by name
    if (vm.spec.name <= after || !filter->Matches(vm)) continue;
    if (resp->vms_size() == *size) {
      resp->set_next_page_token(EncodePageToken(resp->vms(*size - 1).name().substr(4)));
      break;
    }
    ToProto(vm, trusted, resp->add_vms());
  }
  return grpc::Status::OK;
}

grpc::Status LauncherService::DeleteVm(Ctx* ctx, const lpb::DeleteVmRequest* req,
                                       google::protobuf::Empty*) {
  auto id = VmIdFromName(req->name());
  if (!id.ok()) return Err(id.status());
  return Err(l_.DeleteVm(*id, req->force()));
}

grpc::Status LauncherService::StartVm(Ctx* ctx, const lpb::StartVmRequest* req, lpb::Vm* resp) {
  auto id = VmIdFromName(req->name());
  if (!id.ok()) return Err(id.status());
  StartOptions options = CallerOf(ctx);
  options.cold = req->cold();
  auto vm = l_.StartVm(*id, options);
  if (!vm.ok()) return Err(vm.status());
  ToProto(*vm, true, resp);
  return grpc::Status::OK;
}

// The spec LaunchVm creates from (or checks an existing VM against).
absl::StatusOr<VmSpec> LauncherService::LaunchSpec(const std::string& id,
                                                   const lpb::VmSpec& given) const {
  RETURN_IF_ERROR(Annotate(ValidateVmName(id), "name"));
  if (l_.GetVm(id).ok()) {  // only the image is checked
    VmSpec s;
    s.name = id;
    if (!given.image().empty()) {
      ASSIGN_OR_RETURN(s.image, ImageIdFromName(given.image()));
    }
    return s;
  }
  lpb::VmSpec p = given;
  if (p.image().empty()) {
    std::vector<ImageRecord> images = l_.ListImages();
    if (images.size() != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("give spec.image: the launcher holds ", images.size(),
                       " images (import one with `clawos image import DIR`)"));
    }
    p.set_image("images/" + images[0].name);
  }
  return SpecFromProto(id, p);
}

grpc::Status LauncherService::LaunchVm(Ctx* ctx, const lpb::LaunchVmRequest* req,
                                       grpc::ServerWriter<lpb::LaunchVmEvent>* writer) {
  const absl::Time t0 = absl::Now();
  auto id = VmIdFromName(req->name());
  if (!id.ok()) return Err(id.status());
  auto spec = LaunchSpec(*id, req->spec());
  if (!spec.ok()) return Err(spec.status());
  StartOptions options = CallerOf(ctx);
  options.cold = req->cold();
  if (req->has_timeout()) {
    absl::Duration d = FromProtoDuration(req->timeout());
    if (d <= absl::ZeroDuration() || d > absl::Minutes(10)) {
      return Invalid("timeout must be over 0 and at most 10m");
    }
    options.deadline = std::min(options.deadline, t0 + d);
  }
  auto send = [&](lpb::LaunchVmEvent::Phase phase, const std::string& detail, const Vm* vm) {
    lpb::LaunchVmEvent e;
    e.set_phase(phase);
    *e.mutable_elapsed() = ToProtoDuration(absl::Now() - t0);
    e.set_detail(detail);
    if (vm) ToProto(*vm, true, e.mutable_vm());
    writer->Write(e);  // a caller that went away is seen by the start itself
  };
  options.progress = [&](StartPhase phase, const std::string& detail) {
    static constexpr lpb::LaunchVmEvent::Phase kPhases[] = {
        lpb::LaunchVmEvent::CREATING, lpb::LaunchVmEvent::VERIFYING_IMAGE,
        lpb::LaunchVmEvent::BOOTING, lpb::LaunchVmEvent::WAITING_FOR_AGENT};
    send(kPhases[static_cast<int>(phase)], detail, nullptr);
  };
  auto vm = l_.LaunchVm(*spec, options);
  if (!vm.ok()) {
    auto now = l_.GetVm(*id);
    send(lpb::LaunchVmEvent::FAILED, std::string(vm.status().message()),
         now.ok() ? &*now : nullptr);
    return Err(vm.status());
  }
  send(lpb::LaunchVmEvent::RUNNING, "", &*vm);
  return grpc::Status::OK;
}

grpc::Status LauncherService::StopVm(Ctx* ctx, const lpb::StopVmRequest* req, lpb::Vm* resp) {
  auto id = VmIdFromName(req->name());
  if (!id.ok()) return Err(id.status());
  absl::Duration grace = absl::Seconds(30);
  if (req->has_timeout()) {
    grace = FromProtoDuration(req->timeout());
    if (grace < absl::ZeroDuration() || grace > absl::Minutes(10)) {
      return Invalid("timeout must be between 0 and 10m");
    }
  }
  auto vm = l_.StopVm(*id, grace, req->force());
  if (!vm.ok()) return Err(vm.status());
  ToProto(*vm, true, resp);
  return grpc::Status::OK;
}

grpc::Status LauncherService::WatchVms(Ctx* ctx, const lpb::WatchVmsRequest* req,
                                       grpc::ServerWriter<lpb::VmEvent>* writer) {
  auto filter = VmFilter::Parse(req->filter());
  if (!filter.ok()) return Err(filter.status());
  bool trusted = IsTrustedPeer(*ctx);
  int64_t after = l_.events().Last();  // before the snapshot: no change is missed
  if (req->send_initial()) {
    for (const Vm& vm : l_.ListVms()) {
      if (!filter->Matches(vm)) continue;
      lpb::VmEvent e;
      e.set_type(lpb::VmEvent::SNAPSHOT);
      ToProto(vm, trusted, e.mutable_vm());
      *e.mutable_event_time() = ToProtoTime(absl::Now());
      if (!writer->Write(e)) return grpc::Status::OK;
    }
  }
  while (!ctx->IsCancelled()) {
    VmEvents::Batch b = l_.events().Since(after, absl::Milliseconds(500));
    if (b.gap) {
      return grpc::Status(grpc::StatusCode::ABORTED,
                          "the watcher fell more than 1000 changes behind; watch again");
    }
    for (const auto& [id, change] : b.events) {
      after = id;
      if (!WriteChange(change, *filter, trusted, writer)) return grpc::Status::OK;
    }
  }
  return grpc::Status::OK;
}

bool LauncherService::WriteChange(const VmChange& c, const VmFilter& filter, bool trusted,
                                  grpc::ServerWriter<lpb::VmEvent>* writer) {
  if (!filter.Matches(c.vm) && c.type != VmChange::Type::kDeleted) return true;
  lpb::VmEvent e;
  e.set_type(c.type == VmChange::Type::kCreated   ? lpb::VmEvent::CREATED
             : c.type == VmChange::Type::kDeleted ? lpb::VmEvent::DELETED
                                                  : lpb::VmEvent::STATE_CHANGED);
  ToProto(c.vm, trusted, e.mutable_vm());
  Vm before = c.vm;
  before.state = c.previous;
  e.set_previous_state(StateToProto(before));
  *e.mutable_event_time() = ToProtoTime(c.time);
  return writer->Write(e);
}

grpc::Status LauncherService::ImportImage(Ctx* ctx, const lpb::ImportImageRequest* req,
                                          lpb::Image* resp) {
  if (auto s = ValidateVmName(req->image_id()); !s.ok()) return Err(Annotate(s, "image_id"));
  if (req->source_dir().empty() || req->source_dir()[0] != '/') {
    return Invalid("source_dir must be an absolute path on the launcher host");
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(req->source_dir(), ec)) {
    return Invalid(absl::StrCat("source_dir ", req->source_dir(), " is not a directory"));
  }
  auto rec = l_.ImportImage(req->image_id(), req->source_dir());
  if (!rec.ok()) {
    absl::Status s = rec.status();
    // A verification failure is a precondition of the image, whatever the check said.
    if (s.code() == absl::StatusCode::kPermissionDenied ||
        s.code() == absl::StatusCode::kDataLoss || s.code() == absl::StatusCode::kUnauthenticated) {
      s = absl::FailedPreconditionError(s.message());
    }
    return Err(s);
  }
  return Err(ImageToProto(*rec, resp));
}

grpc::Status LauncherService::GetImage(Ctx* ctx, const lpb::GetImageRequest* req,
                                       lpb::Image* resp) {
  auto id = ImageIdFromName(req->name());
  if (!id.ok()) return Err(id.status());
  auto rec = l_.GetImage(*id);
  if (!rec.ok()) return Err(rec.status());
  return Err(ImageToProto(*rec, resp));
}

grpc::Status LauncherService::ListImages(Ctx* ctx, const lpb::ListImagesRequest* req,
                                         lpb::ListImagesResponse* resp) {
  auto size = PageSize(req->page_size());
  if (!size.ok()) return Err(size.status());
  std::string after;
  if (!req->page_token().empty()) {
    auto t = DecodePageToken(req->page_token());
    if (!t.ok()) return Err(t.status());
    after = *t;
  }
  for (const ImageRecord& rec : l_.ListImages()) {
    if (rec.name <= after) continue;
    if (resp->images_size() == *size) {
      resp->set_next_page_token(EncodePageToken(resp->images(*size - 1).name().substr(7)));
      break;
    }
    if (auto s = ImageToProto(rec, resp->add_images()); !s.ok()) return Err(s);
  }
  return grpc::Status::OK;
}

grpc::Status LauncherService::DeleteImage(Ctx* ctx, const lpb::DeleteImageRequest* req,
                                          google::protobuf::Empty*) {
  auto id = ImageIdFromName(req->name());
  if (!id.ok()) return Err(id.status());
  return Err(l_.DeleteImage(*id));
}

grpc::Status LauncherService::ListTemplates(Ctx* ctx, const lpb::ListTemplatesRequest*,
                                            lpb::ListTemplatesResponse* resp) {
  for (const TemplateRecord& r : l_.ListTemplates()) TemplateToProto(r, resp->add_templates());
  return grpc::Status::OK;
}

grpc::Status LauncherService::CreateTemplate(Ctx* ctx, const lpb::CreateTemplateRequest* req,
                                             lpb::Template* resp) {
  auto image = ImageIdFromName(req->image());
  if (!image.ok()) return Err(image.status());
  if (req->vcpus() < 0 || req->memory_mib() < 0 || req->runtime_disk_mib() < 0 ||
      req->workspace_disk_mib() < 0) {
    return Err(absl::InvalidArgumentError("template sizes must not be negative"));
  }
  VmSpec shape;
  if (req->vcpus()) shape.vcpus = req->vcpus();
  if (req->memory_mib()) shape.memory_mib = req->memory_mib();
  if (req->runtime_disk_mib()) shape.runtime_disk_mib = req->runtime_disk_mib();
  if (req->workspace_disk_mib()) shape.workspace_disk_mib = req->workspace_disk_mib();
  auto made = l_.MakeTemplate(*image, shape);
  if (!made.ok()) return Err(made.status());
  TemplateToProto(*made, resp);
  return grpc::Status::OK;
}

grpc::Status LauncherService::DeleteTemplate(Ctx* ctx, const lpb::DeleteTemplateRequest* req,
                                             google::protobuf::Empty*) {
  auto id = TemplateIdFromName(req->name());
  if (!id.ok()) return Err(id.status());
  return Err(l_.DeleteTemplate(*id));
}

grpc::Status LauncherService::ExecVm(Ctx* ctx, const lpb::ExecVmRequest* req,
                                     grpc::ServerWriter<lpb::ExecVmResponse>* writer) {
  auto id = VmIdFromName(req->name());
  if (!id.ok()) return Err(id.status());
  if (req->argv().empty()) return Invalid("argv is required");
  if (req->stdin_data().size() > kMaxStdin) return Invalid("stdin_data is over 1 MiB");
  if (!req->working_dir().empty() && req->working_dir()[0] != '/') {
    return Invalid("working_dir must be absolute");
  }
  auto agent = l_.Agent(*id);
  if (!agent.ok()) return Err(agent.status());
  apb::ExecRequest r;
  for (const auto& a : req->argv()) r.add_argv(a);
  for (const auto& [k, v] : req->env()) (*r.mutable_env())[k] = v;
  r.set_working_dir(req->working_dir());
  if (req->has_timeout()) *r.mutable_timeout() = req->timeout();
  ExecCallbacks cb;
  cb.on_started = [&](int32_t pid) {
    lpb::ExecVmResponse m;
    m.mutable_started()->set_pid(pid);
    return writer->Write(m);
  };
  cb.on_output = [&](const std::string& d, bool is_err) {
    lpb::ExecVmResponse m;
    if (is_err) {
      m.set_stderr_chunk(d);
    } else {
      m.set_stdout_chunk(d);
    }
    return writer->Write(m);
  };
  cb.cancelled = [ctx] { return ctx->IsCancelled(); };
  auto exit = RunExec(**agent, r, req->stdin_data(), cb, Deadline(*ctx, absl::Hours(24)));
  l_.Touch(*id);
  if (!exit.ok()) return Err(exit.status());
  lpb::ExecVmResponse m;
  auto* e = m.mutable_exit();
  e->set_exit_code(exit->exit_code());
  e->set_signal(exit->signal());
  e->set_timed_out(exit->timed_out());
  *e->mutable_duration() = exit->duration();
  writer->Write(m);
  return grpc::Status::OK;
}

grpc::Status LauncherService::PutVmFile(Ctx* ctx, grpc::ServerReader<lpb::PutVmFileRequest>* reader,
                                        lpb::VmFile* resp) {
  lpb::PutVmFileRequest first;
  if (!reader->Read(&first) || !first.has_header()) {
    return Invalid("the first message must be a header");
  }
  const auto& h = first.header();
  auto id = VmIdFromName(h.name());
  if (!id.ok()) return Err(id.status());
  if (h.path().empty() || h.path()[0] != '/') return Invalid("header.path must be absolute");
  if (!h.sha256().empty() && h.sha256().size() != 64) {
    return Invalid("header.sha256 must be 64 hex digits");
  }
  auto agent = l_.Agent(*id);
  if (!agent.ok()) return Err(agent.status());
  apb::FilePut put;
  put.set_path(h.path());
  put.set_mode(h.mode());
  put.set_create_parents(h.create_parents());
  put.set_overwrite(h.overwrite());
  put.set_sha256(h.sha256());
  int64_t total = 0;
  ChunkSource next = [&](std::string* data, bool* eof) -> absl::Status {
    lpb::PutVmFileRequest m;
    if (!reader->Read(&m)) {
      // The end of a cancelled or timed-out stream is not the end of the
      // file: nothing half-sent may replace a file.
      if (ctx->IsCancelled()) return absl::CancelledError("the upload was cancelled");
      *eof = true;
      return absl::OkStatus();
    }
    if (!m.has_data()) {
      return absl::InvalidArgumentError("only the first message may be a header");
    }
    total += static_cast<int64_t>(m.data().size());
    if (total > kMaxFileBytes) {
      return absl::ResourceExhaustedError("the file is over the 1 GiB limit of PutVmFile");
    }
    *data = std::move(*m.mutable_data());
    *eof = false;
    return absl::OkStatus();
  };
  auto info = PutFile(**agent, put, next, Deadline(*ctx, absl::Hours(1)));
  l_.Touch(*id);
  if (!info.ok()) return Err(info.status());
  resp->set_vm(h.name());
  resp->set_path(info->path());
  resp->set_size_bytes(static_cast<int64_t>(info->size_bytes()));
  resp->set_mode(info->mode());
  *resp->mutable_modify_time() = info->modify_time();
  resp->set_sha256(info->sha256());
  return grpc::Status::OK;
}

grpc::Status LauncherService::GetVmFile(Ctx* ctx, const lpb::GetVmFileRequest* req,
                                        grpc::ServerWriter<lpb::GetVmFileResponse>* writer) {
  auto id = VmIdFromName(req->name());
  if (!id.ok()) return Err(id.status());
  if (req->path().empty() || req->path()[0] != '/') return Invalid("path must be absolute");
  auto agent = l_.Agent(*id);
  if (!agent.ok()) return Err(agent.status());
  bool too_big = false;
  auto s = GetFile(
      **agent, req->path(),
      [&](const apb::FileInfo& info) {
        if (static_cast<int64_t>(info.size_bytes()) > kMaxFileBytes) {
          too_big = true;
          return false;
        }
        lpb::GetVmFileResponse m;
        auto* f = m.mutable_file();
        f->set_vm(req->name());
        f->set_path(info.path());
        f->set_size_bytes(static_cast<int64_t>(info.size_bytes()));
        f->set_mode(info.mode());
        *f->mutable_modify_time() = info.modify_time();
        return writer->Write(m);
      },
      [&](const std::string& d) {
        lpb::GetVmFileResponse m;
        m.set_data(d);
        return writer->Write(m);
      },
      Deadline(*ctx, absl::Hours(1)));
  l_.Touch(*id);
  if (too_big) {
    return Err(absl::FailedPreconditionError(
        absl::StrCat(req->path(), " is over the 1 GiB limit of GetVmFile")));
  }
  if (s.code() == absl::StatusCode::kNotFound) {
    s = absl::NotFoundError(absl::StrCat("no such file in the guest: ", s.message()));
  }
  return Err(s);
}

grpc::Status LauncherService::StreamVmLogs(Ctx* ctx, const lpb::StreamVmLogsRequest* req,
                                           grpc::ServerWriter<lpb::LogEntry>* writer) {
  auto id = VmIdFromName(req->name());
  if (!id.ok()) return Err(id.status());
  if (req->tail_lines() < 0 || req->after_sequence() < 0) {
    return Invalid("tail_lines and after_sequence must not be negative");
  }
  auto log = l_.Logs(*id);
  if (!log.ok()) return Err(log.status());
  AcceptStream(ctx, writer);  // a known VM: the stream is open, lines or not
  LogQuery q;
  if (req->sources_size() > 0) {
    q.console = q.agent = false;
    for (int s : req->sources()) {
      if (s == lpb::LOG_SOURCE_SERIAL_CONSOLE) q.console = true;
      if (s == lpb::LOG_SOURCE_AGENT) q.agent = true;
    }
  }
  q.after_sequence = req->after_sequence();
  q.tail = req->tail_lines();
  if (req->has_start_time()) q.since = FromProtoTime(req->start_time());
  for (;;) {
    q.up_to = (*log)->last_sequence();
    for (const LogRecord& r : (*log)->Read(q)) {
      lpb::LogEntry e;
      e.set_vm(req->name());
      e.set_source(r.source == LogSource::kAgent ? lpb::LOG_SOURCE_AGENT
                                                 : lpb::LOG_SOURCE_SERIAL_CONSOLE);
      *e.mutable_time() = ToProtoTime(r.time);
      e.set_text(r.text);
      e.set_level(r.level);
      e.set_sequence(r.sequence);
      if (!writer->Write(e)) return grpc::Status::OK;
    }
    if (!req->follow()) return grpc::Status::OK;
    q.after_sequence = std::max(q.after_sequence, q.up_to);
    q.tail = 0;
    for (;;) {
      if (ctx->IsCancelled()) return grpc::Status::OK;
      auto vm = l_.GetVm(*id);
      if (!vm.ok()) return grpc::Status::OK;  // deleted
      bool live = vm->state == VmState::kBooting || vm->state == VmState::kRunning;
      if ((*log)->WaitAfter(q.after_sequence, absl::Now() + absl::Milliseconds(500))) break;
      if (!live) return grpc::Status::OK;
    }
  }
}

}  // namespace clawos::launcher
