#include "cli/vm_commands.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "cli/api_client.h"
#include "cli/interrupt.h"
#include "cli/launcher_client.h"
#include "cli/terminal_text.h"
#include "cli/vm_io_commands.h"
#include "common/config.h"
#include "common/duration.h"
#include "common/grpc_util.h"
#include "common/status.h"

namespace clawos::cli {
namespace {

absl::Status ParsePairs(const std::vector<std::string>& in, const char* what,
                        google::protobuf::Map<std::string, std::string>* out) {
  for (const std::string& kv : in) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat(what, " \"", kv, "\" is not KEY=VALUE"));
    }
    (*out)[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return absl::OkStatus();
}

void PrintVm(const lpb::Vm& vm) {
  std::cout << "name:      " << vm.name() << "\n"
            << "state:     " << lpb::Vm::State_Name(vm.state()) << "\n";
  if (vm.has_failure()) {
    std::cout << "failure:   " << lpb::Failure::Reason_Name(vm.failure().reason()) << ": "
              << TerminalSafeLine(vm.failure().message()) << "\n";
  }
  if (!vm.stop_reason().empty()) {
    std::cout << "stopped:   " << TerminalSafeLine(vm.stop_reason()) << "\n";
  }
  std::cout << "image:     " << vm.spec().image() << "\n"
            << "vcpus:     " << vm.spec().vcpus() << "\n"
            << "memory:    " << vm.spec().memory_mib() << " MiB\n"
            << "disks:     runtime " << vm.spec().runtime_disk_mib() << " MiB, workspace "
            << vm.spec().workspace_disk_mib() << " MiB\n"
            << "backend:   " << lpb::Vm::Backend_Name(vm.backend()) << " ("
            << lpb::Vm::Accel_Name(vm.accel()) << ")\n";
  if (vm.pid()) std::cout << "pid:       " << vm.pid() << "\n";
  std::cout << "jail:      "
            << (vm.jail_uid() ? absl::StrCat("uid ", vm.jail_uid())
                              : std::string("none (unjailed)"))
            << "\n";
  if (vm.cgroup_id()) {
    std::cout << "cgroup:    " << vm.cgroup_path() << " (id " << vm.cgroup_id() << ")\n";
  }
  if (vm.has_start_time()) {
    std::cout << "boot:      "
              << (vm.template_id().empty() ? std::string("booted")
                                           : "restored from " + vm.template_id())
              << "\n";
  }
  if (!vm.agent_version().empty()) {
    std::cout << "agent:     " << TerminalSafeLine(vm.agent_version()) << "\n";
  }
  if (vm.has_network()) {
    std::cout << "network:   " << vm.network().ip_address() << " on " << vm.network().tap_device()
              << " (" << vm.network().mac_address() << ")\n";
  }
  std::cout << "subject:   " << vm.agent_subject() << "\n"
            << "created:   " << Age(vm.create_time()) << " ago\n";
  if (vm.has_ready_time() && vm.has_start_time()) {
    double boot = static_cast<double>(vm.ready_time().seconds() - vm.start_time().seconds()) +
                  (vm.ready_time().nanos() - vm.start_time().nanos()) / 1e9;
    std::cout << "booted in: " << absl::StrFormat("%.1fs", boot) << "\n";
  }
  for (const auto& [k, v] : vm.spec().labels()) std::cout << "label:     " << k << "=" << v << "\n";
}

constexpr char kLauncher[] = "clawos.launcher.v1.LauncherService.";
std::string Method(const char* name) { return absl::StrCat(kLauncher, name); }

struct StartFlags {
  std::string name, image, model;
  int vcpus = 0, mem = 256, workspace_mib = 0;
  std::vector<std::string> env, labels;
  std::string network = "none";
  bool cold = false;
  absl::Duration timeout = absl::Minutes(5);
};

absl::StatusOr<lpb::LaunchVmRequest> LaunchRequest(const StartFlags& f) {
  lpb::LaunchVmRequest req;
  req.set_name(VmName(f.name));
  auto* spec = req.mutable_spec();
  if (!f.image.empty()) spec->set_image(ImageName(f.image));
  spec->set_vcpus(f.vcpus);
  spec->set_memory_mib(f.mem);
  spec->set_workspace_disk_mib(f.workspace_mib);
  spec->set_model(f.model);
  spec->mutable_network()->set_mode(f.network == "bridge" ? lpb::NetworkSpec::BRIDGE
                                                          : lpb::NetworkSpec::NONE);
  RETURN_IF_ERROR(ParsePairs(f.env, "--env", spec->mutable_env()));
  RETURN_IF_ERROR(ParsePairs(f.labels, "--label", spec->mutable_labels()));
  req.set_cold(f.cold);
  *req.mutable_timeout() = ToProtoDuration(f.timeout);
  return req;
}

// One LaunchVm call: its progress on stderr, the VM at the end. Ctrl-C
// cancels it; the launcher then aborts the boot and deletes a VM the call
// created.
int Start(const Context& ctx, const StartFlags& f) {
  auto req = LaunchRequest(f);
  if (!req.ok()) return ReportError("vm start", req.status());
  auto api = MakeApiClient(ctx);
  if (!api.ok()) return ReportError("vm start", api.status());
  if (!ctx.json()) std::cerr << "starting " << req->name() << "\n";
  Canceller cancel;
  CancelOnInterrupt interrupt(&cancel);
  std::optional<lpb::Vm> running;
  absl::Duration took;
  absl::Status s = (*api)->Each<lpb::LaunchVmEvent>(
      Method("LaunchVm"), *req,
      [&](const lpb::LaunchVmEvent& e) {
        took = FromProtoDuration(e.elapsed());
        if (e.phase() == lpb::LaunchVmEvent::RUNNING) running = e.vm();
        if (!ctx.json() && e.phase() != lpb::LaunchVmEvent::FAILED) {
          std::cerr << absl::StrFormat(
              "  %6.1fs  %s%s\n", absl::ToDoubleSeconds(took),
              lpb::LaunchVmEvent::Phase_Name(e.phase()),
              e.detail().empty() ? "" : " (" + TerminalSafeLine(e.detail()) + ")");
        }
        return absl::OkStatus();
      },
      &cancel);
  // A Ctrl-C after the VM ran changes nothing: the VM is there, say so.
  if (interrupt.interrupted() && !(s.ok() && running)) {
    ReportError("vm start", absl::CancelledError("interrupted: the launcher aborts the start and "
                                                 "deletes the VM if this start created it"));
    return 130;
  }
  if (!s.ok()) return ReportError("vm start", s);
  if (!running) {
    return ReportError("vm start", absl::UnavailableError("the start ended without the VM"));
  }
  const lpb::Vm& vm = *running;
  if (ctx.json()) {
    std::cout << ToJson(vm) << "\n";
  } else {
    std::cout << absl::StrFormat(
        "%s RUNNING in %.1fs (agent %s, pid %d, %s, %s)\n", vm.name(), absl::ToDoubleSeconds(took),
        TerminalSafeLine(vm.agent_version()), vm.pid(), lpb::Vm::Accel_Name(vm.accel()),
        vm.template_id().empty() ? "booted" : "restored from " + vm.template_id());
  }
  return 0;
}

}  // namespace

void AddVmCommands(CLI::App& app, Context& ctx, int& rc) {
  auto* vm = app.add_subcommand("vm",
                                "Agent microVMs (through clawos-controlplane at --url; with "
                                "--direct gRPC to clawos-vm-launcher at --launcher)")
                 ->require_subcommand(1);

  auto start_flags = std::make_shared<StartFlags>();
  auto* start = vm->add_subcommand(
      "start", "Start a VM, creating it first when it does not exist; waits until RUNNING");
  start->add_option("name", start_flags->name, "VM id, e.g. agent-1")->required();
  start->add_option("--image", start_flags->image,
                    "Image to create the VM from (default: the only imported image)");
  start->add_option("--model", start_flags->model,
                    "The agent's LLM model: its default, and the only one its token may use "
                    "(unless its limits allow more)");
  start->add_option("--vcpus", start_flags->vcpus, "vCPUs (default 1)");
  start->add_option("--mem", start_flags->mem, "Memory in MiB")->capture_default_str();
  start->add_option("--workspace-mib", start_flags->workspace_mib,
                    "Size of /workspace in MiB (default 1024)");
  start->add_option("--env", start_flags->env,
                    "KEY=VALUE for the agent (repeatable; not for secrets)");
  start->add_option("--label", start_flags->labels, "KEY=VALUE label (repeatable)");
  start
      ->add_option("--network", start_flags->network,
                   "none (no NIC; inference via the agent channel) or bridge")
      ->check(CLI::IsMember({"none", "bridge"}))
      ->capture_default_str();
  start->add_flag("--cold", start_flags->cold,
                  "Boot the guest even where a template of its image and shape could restore it");
  clawos::AddDurationFlag(*start, "--timeout", &start_flags->timeout, "",
                          "How long to wait for RUNNING; past it the start is abandoned: a VM it "
                          "created is deleted, one that existed is left STOPPED");
  start->callback([&ctx, &rc, start_flags] { rc = Start(ctx, *start_flags); });

  auto* list = vm->add_subcommand("list", "List VMs");
  auto filter = std::make_shared<std::string>();
  list->add_option("--filter", *filter, "e.g. state=RUNNING AND labels.team=x");
  list->callback([&ctx, &rc, filter] {
    auto api = MakeApiClient(ctx);
    if (!api.ok()) {
      rc = ReportError("vm list", api.status());
      return;
    }
    lpb::ListVmsRequest req;
    req.set_filter(*filter);
    req.set_page_size(1000);
    auto r = (*api)->Call<lpb::ListVmsResponse>(Method("ListVms"), req);
    if (!r.ok()) {
      rc = ReportError("vm list", r.status());
      return;
    }
    if (ctx.json()) {
      std::cout << ToJson(*r) << "\n";
      return;
    }
    std::cout << absl::StrFormat("%-24s %-9s %-18s %5s %7s %8s %5s\n", "NAME", "STATE", "IMAGE",
                                 "VCPUS", "MEM_MIB", "PID", "AGE");
    for (const auto& v : r->vms()) {
      std::cout << absl::StrFormat("%-24s %-9s %-18s %5d %7d %8d %5s\n", v.name().substr(4),
                                   lpb::Vm::State_Name(v.state()), v.spec().image().substr(7),
                                   v.spec().vcpus(), v.spec().memory_mib(), v.pid(),
                                   Age(v.create_time()));
    }
  });

  auto name = std::make_shared<std::string>();
  auto* status = vm->add_subcommand("status", "Show one VM");
  status->add_option("name", *name, "VM id")->required();
  status->callback([&ctx, &rc, name] {
    auto api = MakeApiClient(ctx);
    if (!api.ok()) {
      rc = ReportError("vm status", api.status());
      return;
    }
    lpb::GetVmRequest req;
    req.set_name(VmName(*name));
    auto r = (*api)->Call<lpb::Vm>(Method("GetVm"), req);
    if (!r.ok()) {
      rc = ReportError("vm status", r.status());
      return;
    }
    if (ctx.json()) {
      std::cout << ToJson(*r) << "\n";
    } else {
      PrintVm(*r);
    }
  });

  auto stop_timeout = std::make_shared<absl::Duration>(absl::Seconds(30));
  auto force = std::make_shared<bool>(false);
  auto* stop = vm->add_subcommand("stop", "Stop a VM (the guest shuts down in order)");
  stop->add_option("name", *name, "VM id")->required();
  clawos::AddDurationFlag(*stop, "--timeout", stop_timeout.get(), "",
                          "How long the guest gets before QEMU is killed");
  stop->add_flag("--force", *force, "Kill the VMM at once");
  stop->callback([&ctx, &rc, name, stop_timeout, force] {
    auto api = MakeApiClient(ctx);
    if (!api.ok()) {
      rc = ReportError("vm stop", api.status());
      return;
    }
    lpb::StopVmRequest req;
    req.set_name(VmName(*name));
    *req.mutable_timeout() = ToProtoDuration(*stop_timeout);
    req.set_force(*force);
    auto r = (*api)->Call<lpb::Vm>(Method("StopVm"), req, *stop_timeout + absl::Seconds(30));
    if (!r.ok()) {
      rc = ReportError("vm stop", r.status());
      return;
    }
    if (ctx.json()) {
      std::cout << ToJson(*r) << "\n";
    } else {
      std::cout << r->name() << " " << lpb::Vm::State_Name(r->state()) << "\n";
    }
  });

  auto* del = vm->add_subcommand("delete", "Delete a stopped VM with its disks");
  del->add_option("name", *name, "VM id")->required();
  del->add_flag("--force", *force, "Stop it first if it runs");
  del->callback([&ctx, &rc, name, force] {
    auto api = MakeApiClient(ctx);
    if (!api.ok()) {
      rc = ReportError("vm delete", api.status());
      return;
    }
    lpb::DeleteVmRequest req;
    req.set_name(VmName(*name));
    req.set_force(*force);
    if (auto s = (*api)->Call<google::protobuf::Empty>(Method("DeleteVm"), req).status(); !s.ok()) {
      rc = ReportError("vm delete", s);
      return;
    }
    if (!ctx.json()) std::cout << "deleted " << req.name() << "\n";
  });

  AddVmIoCommands(*vm, ctx, rc);
}

void AddImageLauncherCommands(CLI::App& image, Context& ctx, int& rc) {
  auto dir = std::make_shared<std::string>();
  auto id = std::make_shared<std::string>("default");
  auto* imp = image.add_subcommand(
      "import",
      "Import a signed image into clawos-vm-launcher (full verification, once; DIR is read by "
      "the launcher, on its host)");
  imp->add_option("dir", *dir, "Image directory (manifest.json, manifest.sig, artefacts)")
      ->required();
  imp->add_option("--name", *id, "Image id in the launcher")->capture_default_str();
  imp->callback([&ctx, &rc, dir, id] {
    auto api = MakeApiClient(ctx);
    if (!api.ok()) {
      rc = ReportError("image import", api.status());
      return;
    }
    lpb::ImportImageRequest req;
    req.set_image_id(*id);
    std::error_code ec;
    req.set_source_dir(std::filesystem::absolute(*dir, ec).lexically_normal().string());
    auto r = (*api)->Call<lpb::Image>(Method("ImportImage"), req);
    if (!r.ok()) {
      rc = ReportError("image import", r.status());
      return;
    }
    if (ctx.json()) {
      std::cout << ToJson(*r) << "\n";
    } else {
      std::cout << "imported " << r->name() << " (root hash " << r->verity_root_hash()
                << ", signed by " << r->signer_key_id() << ")\n";
    }
  });

  auto* list = image.add_subcommand("list", "List the launcher's images");
  list->callback([&ctx, &rc] {
    auto api = MakeApiClient(ctx);
    if (!api.ok()) {
      rc = ReportError("image list", api.status());
      return;
    }
    lpb::ListImagesRequest req;
    req.set_page_size(1000);
    auto r = (*api)->Call<lpb::ListImagesResponse>(Method("ListImages"), req);
    if (!r.ok()) {
      rc = ReportError("image list", r.status());
      return;
    }
    if (ctx.json()) {
      std::cout << ToJson(*r) << "\n";
      return;
    }
    std::cout << absl::StrFormat("%-20s %-18s %10s  %s\n", "NAME", "ROOT_HASH", "SIZE_MIB",
                                 "SIGNER");
    for (const auto& i : r->images()) {
      std::cout << absl::StrFormat("%-20s %-18s %10d  %s\n", i.name().substr(7),
                                   i.verity_root_hash().substr(0, 16) + "..", i.size_bytes() >> 20,
                                   i.signer_key_id());
    }
  });

  auto* del = image.add_subcommand("delete",
                                   "Remove an image from the launcher (its templates go with it)");
  del->add_option("name", *id, "Image id")->required();
  del->callback([&ctx, &rc, id] {
    auto api = MakeApiClient(ctx);
    if (!api.ok()) {
      rc = ReportError("image delete", api.status());
      return;
    }
    lpb::DeleteImageRequest req;
    req.set_name(ImageName(*id));
    if (auto s = (*api)->Call<google::protobuf::Empty>(Method("DeleteImage"), req).status();
        !s.ok()) {
      rc = ReportError("image delete", s);
      return;
    }
    if (!ctx.json()) std::cout << "deleted " << req.name() << "\n";
  });
}

}  // namespace clawos::cli
