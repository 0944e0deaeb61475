// clawos.launcher.v1.LauncherService over the Launcher core: request
// checking, the trusted-transport rule, proto conversion and streaming. No
// lifecycle logic lives here.
#pragma once

#include "clawos/launcher/v1/launcher.grpc.pb.h"
#include "vm-launcher/launcher.h"
#include "vm-launcher/vm_proto.h"

namespace clawos::launcher {

namespace lpb = ::clawos::launcher::v1;

class LauncherService final : public lpb::LauncherService::Service {
 public:
  explicit LauncherService(Launcher& launcher) : l_(launcher) {}

  using Ctx = grpc::ServerContext;
  grpc::Status CreateVm(Ctx*, const lpb::CreateVmRequest*, lpb::Vm*) override;
  grpc::Status GetVm(Ctx*, const lpb::GetVmRequest*, lpb::Vm*) override;
  grpc::Status ListVms(Ctx*, const lpb::ListVmsRequest*, lpb::ListVmsResponse*) override;
  grpc::Status DeleteVm(Ctx*, const lpb::DeleteVmRequest*, google::protobuf::Empty*) override;
  grpc::Status StartVm(Ctx*, const lpb::StartVmRequest*, lpb::Vm*) override;
  grpc::Status LaunchVm(Ctx*, const lpb::LaunchVmRequest*,
                        grpc::ServerWriter<lpb::LaunchVmEvent>*) override;
  grpc::Status StopVm(Ctx*, const lpb::StopVmRequest*, lpb::Vm*) override;
  grpc::Status WatchVms(Ctx*, const lpb::WatchVmsRequest*,
                        grpc::ServerWriter<lpb::VmEvent>*) override;
  grpc::Status ImportImage(Ctx*, const lpb::ImportImageRequest*, lpb::Image*) override;
  grpc::Status GetImage(Ctx*, const lpb::GetImageRequest*, lpb::Image*) override;
  grpc::Status ListImages(Ctx*, const lpb::ListImagesRequest*, lpb::ListImagesResponse*) override;
  grpc::Status DeleteImage(Ctx*, const lpb::DeleteImageRequest*, google::protobuf::Empty*) override;
  grpc::Status ListTemplates(Ctx*, const lpb::ListTemplatesRequest*,
                             lpb::ListTemplatesResponse*) override;
  grpc::Status CreateTemplate(Ctx*, const lpb::CreateTemplateRequest*, lpb::Template*) override;
  grpc::Status DeleteTemplate(Ctx*, const lpb::DeleteTemplateRequest*,
                              google::protobuf::Empty*) override;
  grpc::Status ExecVm(Ctx*, const lpb::ExecVmRequest*,
                      grpc::ServerWriter<lpb::ExecVmResponse>*) override;
  grpc::Status PutVmFile(Ctx*, grpc::ServerReader<lpb::PutVmFileRequest>*, lpb::VmFile*) override;
  grpc::Status GetVmFile(Ctx*, const lpb::GetVmFileRequest*,
                         grpc::ServerWriter<lpb::GetVmFileResponse>*) override;
  grpc::Status StreamVmLogs(Ctx*, const lpb::StreamVmLogsRequest*,
                            grpc::ServerWriter<lpb::LogEntry>*) override;

 private:
  absl::StatusOr<VmSpec> LaunchSpec(const std::string& id, const lpb::VmSpec& given) const;
  void ToProto(const Vm& vm, bool trusted, lpb::Vm* out) const;
  // One change as a VmEvent, when it matches; false when the watcher left.
  bool WriteChange(const VmChange& change, const VmFilter& filter, bool trusted,
                   grpc::ServerWriter<lpb::VmEvent>* writer);
  Launcher& l_;
};

}  // namespace clawos::launcher
