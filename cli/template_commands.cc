#include "cli/template_commands.h"

#include <iostream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "clawos/launcher/v1/launcher.grpc.pb.h"
#include "cli/api_client.h"
#include "cli/launcher_client.h"
#include "cli/terminal_text.h"

namespace clawos::cli {
namespace {

namespace lpb = ::clawos::launcher::v1;
template <typename Resp, typename Req>
absl::StatusOr<Resp> Call(const Context& ctx, const char* method, const Req& req) {
  auto api = MakeApiClient(ctx);
  if (!api.ok()) return api.status();
  return (*api)->Call<Resp>(absl::StrCat("clawos.launcher.v1.LauncherService.", method), req);
}

struct MakeFlags {
  std::string image;
  int vcpus = 0;
  int mem = 0;
  int64_t workspace_mib = 0;
  int64_t runtime_mib = 0;
};

void PrintTemplates(const lpb::ListTemplatesResponse& r) {
  std::cout << absl::StrFormat("%-26s %-14s %5s %7s %9s %9s %7s  %s\n", "NAME", "IMAGE", "VCPUS",
                               "MEM_MIB", "WORKSPACE", "STORED_MB", "BUILD_S", "VMM");
  for (const auto& t : r.templates()) {
    std::string vmm = TerminalSafeLine(t.vmm());
    std::cout << absl::StrFormat(
        "%-26s %-14s %5d %7d %9d %9d %7.1f  %s\n", t.name(), t.image().substr(7), t.vcpus(),
        t.memory_mib(), t.workspace_disk_mib(), t.stored_memory_bytes() >> 20,
        t.build_time().seconds() + t.build_time().nanos() / 1e9, vmm.substr(0, 48));
  }
}

int List(const Context& ctx) {
  auto r = Call<lpb::ListTemplatesResponse>(ctx, "ListTemplates", lpb::ListTemplatesRequest());
  if (!r.ok()) return ReportError("image templates", r.status());
  if (ctx.json()) {
    std::cout << ToJson(*r) << "\n";
  } else {
    PrintTemplates(*r);
  }
  return 0;
}

int Make(const Context& ctx, const MakeFlags& f) {
  lpb::CreateTemplateRequest req;
  req.set_image(ImageName(f.image));
  req.set_vcpus(f.vcpus);
  req.set_memory_mib(f.mem);
  req.set_workspace_disk_mib(f.workspace_mib);
  req.set_runtime_disk_mib(f.runtime_mib);
  if (!ctx.json()) std::cerr << "making a template of " << req.image() << " (boots a guest)\n";
  auto t = Call<lpb::Template>(ctx, "CreateTemplate", req);
  if (!t.ok()) return ReportError("image templates make", t.status());
  if (ctx.json()) {
    std::cout << ToJson(*t) << "\n";
  } else {
    std::cout << "made " << t->name() << " in "
              << absl::StrFormat("%.1fs", t->build_time().seconds() + t->build_time().nanos() / 1e9)
              << " (" << (t->stored_memory_bytes() >> 20) << " MiB of guest memory stored)\n";
  }
  return 0;
}

int Delete(const Context& ctx, const std::string& id) {
  lpb::DeleteTemplateRequest req;
  req.set_name(id.rfind("templates/", 0) == 0 ? id : "templates/" + id);
  auto r = Call<google::protobuf::Empty>(ctx, "DeleteTemplate", req);
  if (!r.ok()) return ReportError("image templates delete", r.status());
  if (!ctx.json()) std::cout << "deleted " << req.name() << "\n";
  return 0;
}

}  // namespace

void AddTemplateCommands(CLI::App& image, Context& ctx, int& rc) {
  auto* templates = image.add_subcommand(
      "templates",
      "The launcher's VM templates: VMs of a template's image and shape are restored from it "
      "instead of booted (through the control plane; --direct: gRPC to the launcher)");
  templates->require_subcommand(0, 1);
  auto flags = std::make_shared<MakeFlags>();
  auto* make = templates->add_subcommand(
      "make", "Make (or remake) the template of an image and VM shape now");
  make->add_option("image", flags->image, "Image id")->required();
  make->add_option("--vcpus", flags->vcpus, "vCPUs (default 1)");
  make->add_option("--mem", flags->mem, "Memory in MiB (default 256)");
  make->add_option("--workspace-mib", flags->workspace_mib, "Size of /workspace (default 1024)");
  make->add_option("--runtime-mib", flags->runtime_mib, "Size of /var (default 256)");
  make->callback([&ctx, &rc, flags] { rc = Make(ctx, *flags); });
  auto id = std::make_shared<std::string>();
  auto* del =
      templates->add_subcommand("delete", "Delete a template (VMs restored from it keep running)");
  del->add_option("id", *id, "Template id (templates/<id> or the 16 hex digits)")->required();
  del->callback([&ctx, &rc, id] { rc = Delete(ctx, *id); });
  templates->callback([&ctx, &rc, templates] {
    if (templates->get_subcommands().empty()) rc = List(ctx);
  });
}

}  // namespace clawos::cli
