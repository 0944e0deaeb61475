#include "vm-launcher/vm_proto.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/crypto/encoding.h"
#include "common/crypto/sha256.h"
#include "common/files.h"
#include "common/grpc_util.h"
#include "common/status.h"
#include "common/utf8.h"

namespace clawos::launcher {
namespace {

absl::StatusOr<std::string> IdFromName(const std::string& name, const char* prefix) {
  if (!absl::StartsWith(name, prefix)) {
    return absl::InvalidArgumentError(
        absl::StrCat("name \"", name.substr(0, 80), "\" is not of the form ", prefix, "<id>"));
  }
  std::string id = name.substr(std::string(prefix).size());
  RETURN_IF_ERROR(ValidateVmName(id));
  return id;
}

const char* ProtoStateName(lpb::Vm::State s) { return lpb::Vm::State_Name(s).c_str(); }

}  // namespace

absl::StatusOr<std::string> VmIdFromName(const std::string& name) {
  return IdFromName(name, "vms/");
}

absl::StatusOr<std::string> ImageIdFromName(const std::string& name) {
  return IdFromName(name, "images/");
}

absl::StatusOr<std::string> TemplateIdFromName(const std::string& name) {
  const std::string prefix = "templates/";
  std::string id = absl::StartsWith(name, prefix) ? name.substr(prefix.size()) : "";
  if (id.size() != 16 || id.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "name \"", name.substr(0, 80), "\" is not of the form templates/<16 hex digits>"));
  }
  return id;
}

void TemplateToProto(const TemplateRecord& r, lpb::Template* out) {
  out->set_name("templates/" + r.id);
  out->set_image("images/" + r.key.image);
  out->set_verity_root_hash(r.key.root_hash);
  out->set_vcpus(r.key.vcpus);
  out->set_memory_mib(r.key.memory_mib);
  out->set_runtime_disk_mib(r.key.runtime_disk_mib);
  out->set_workspace_disk_mib(r.key.workspace_disk_mib);
  out->set_vmm(r.key.vmm);
  *out->mutable_create_time() = ToProtoTime(r.create_time);
  *out->mutable_build_time() = ToProtoDuration(r.build_time);
  out->set_memory_bytes(r.ram_bytes);
  out->set_stored_memory_bytes(r.ram_data_bytes);
  out->set_device_state_bytes(r.state_bytes);
}

absl::StatusOr<VmSpec> SpecFromProto(const std::string& vm_id, const lpb::VmSpec& p) {
  VmSpec s;
  s.name = vm_id;
  if (p.image().empty()) return absl::InvalidArgumentError("spec.image is required");
  ASSIGN_OR_RETURN(s.image, ImageIdFromName(p.image()));
  if (p.vcpus() < 0 || p.memory_mib() < 0 || p.runtime_disk_mib() < 0 ||
      p.workspace_disk_mib() < 0) {
    return absl::InvalidArgumentError("spec sizes must not be negative");
  }
  if (p.memory_mib() == 0) {
    return absl::InvalidArgumentError("spec.memory_mib is required (at least 128)");
  }
  if (p.vcpus()) s.vcpus = p.vcpus();
  s.memory_mib = p.memory_mib();
  if (p.runtime_disk_mib()) s.runtime_disk_mib = p.runtime_disk_mib();
  if (p.workspace_disk_mib()) s.workspace_disk_mib = p.workspace_disk_mib();
  if (p.network().mode() == lpb::NetworkSpec::BRIDGE) s.network = "bridge";
  for (const auto& [k, v] : p.env()) s.env[k] = v;
  for (const auto& [k, v] : p.labels()) s.labels[k] = v;
  s.model = p.model();
  return s;
}

lpb::Vm::State StateToProto(const Vm& vm) {
  switch (vm.state) {
    case VmState::kCreating:
      return lpb::Vm::PENDING;
    case VmState::kBooting:
      return lpb::Vm::STARTING;
    case VmState::kRunning:
      return lpb::Vm::RUNNING;
    case VmState::kStopping:
      return lpb::Vm::STOPPING;
    case VmState::kStopped:
      return vm.start_time == absl::InfinitePast() ? lpb::Vm::PENDING : lpb::Vm::STOPPED;
    case VmState::kFailed:
      return lpb::Vm::FAILED;
  }
  return lpb::Vm::STATE_UNSPECIFIED;
}

void VmToProto(const Vm& vm, const std::string& cgroup_path, bool with_env, lpb::Vm* out) {
  out->set_name("vms/" + vm.spec.name);
  auto* s = out->mutable_spec();
  s->set_image("images/" + vm.spec.image);
  s->set_vcpus(vm.spec.vcpus);
  s->set_memory_mib(vm.spec.memory_mib);
  s->set_runtime_disk_mib(static_cast<int32_t>(vm.spec.runtime_disk_mib));
  s->set_workspace_disk_mib(static_cast<int32_t>(vm.spec.workspace_disk_mib));
  s->mutable_network()->set_mode(vm.spec.network == "bridge" ? lpb::NetworkSpec::BRIDGE
                                                             : lpb::NetworkSpec::NONE);
  for (const auto& [k, v] : vm.spec.env) (*s->mutable_env())[k] = with_env ? v : "";
  for (const auto& [k, v] : vm.spec.labels) (*s->mutable_labels())[k] = v;
  s->set_model(vm.spec.model);
  out->set_state(StateToProto(vm));
  if (vm.state == VmState::kFailed) {
    out->mutable_failure()->set_reason(static_cast<lpb::Failure::Reason>(vm.failure));
    out->mutable_failure()->set_message(ToValidUtf8(vm.reason));  // stored before it was made safe
    *out->mutable_failure()->mutable_time() = ToProtoTime(vm.stop_time);
  }
  if (vm.state == VmState::kStopped && !vm.reason.empty()) {
    out->set_stop_reason(ToValidUtf8(vm.reason));
  }
  out->set_jail_uid(vm.jail_uid);
  if (!vm.template_id.empty()) out->set_template_id("templates/" + vm.template_id);
  out->set_backend(lpb::Vm::QEMU);
  if (vm.start_time != absl::InfinitePast()) out->set_accel(lpb::Vm::TCG);
  out->set_pid(static_cast<int32_t>(vm.pid));
  if (vm.cgroup_id) out->set_cgroup_path(cgroup_path);
  out->set_cgroup_id(vm.cgroup_id);
  out->set_agent_subject("agents/" + vm.spec.name);
  out->set_agent_version(ToSafeText(vm.agent_version, 128, false));  // the guest says it
  *out->mutable_create_time() = ToProtoTime(vm.create_time);
  *out->mutable_update_time() = ToProtoTime(vm.update_time);
  if (vm.start_time != absl::InfinitePast())
    *out->mutable_start_time() = ToProtoTime(vm.start_time);
  if (vm.ready_time != absl::InfinitePast())
    *out->mutable_ready_time() = ToProtoTime(vm.ready_time);
  if (vm.stop_time != absl::InfinitePast()) *out->mutable_stop_time() = ToProtoTime(vm.stop_time);
}

absl::Status ImageToProto(const ImageRecord& rec, lpb::Image* out) {
  out->set_name("images/" + rec.name);
  std::string raw;
  ASSIGN_OR_RETURN(image::Manifest m, image::ReadManifest(rec.dir, &raw));
  out->set_manifest_digest("sha256:" + crypto::HexEncode(crypto::Sha256Of(raw)));
  out->set_verity_root_hash(m.verity.root_hash);
  out->set_verity_salt(m.verity.salt);
  out->set_verity_data_blocks(static_cast<int64_t>(m.verity.data_blocks));
  out->set_verity_data_block_size(static_cast<int32_t>(m.verity.data_block_size));
  out->set_verity_hash_block_size(static_cast<int32_t>(m.verity.hash_block_size));
  auto sig = nlohmann::json::parse(
      ReadFile(rec.dir + "/manifest.sig", image::kMaxManifestBytes).value_or(""), nullptr, false);
  if (sig.is_object()) out->set_signer_key_id(sig.value("kid", ""));
  *out->mutable_verify_time() = ToProtoTime(rec.import_time);
  *out->mutable_create_time() = ToProtoTime(rec.import_time);
  out->set_kernel_cmdline(m.cmdline);
  int64_t total = 0;
  for (auto [role, f] : {std::pair<const char*, const image::ManifestFile*>{"kernel", &m.kernel},
                         {"vmlinux", &m.vmlinux},
                         {"initramfs", &m.initramfs},
                         {"rootfs", &m.rootfs},
                         {"verity", &m.verity_hash}}) {
    if (f->path.empty()) continue;
    auto* a = out->add_artifacts();
    a->set_role(role);
    a->set_file(f->path);
    a->set_sha256(f->sha256);
    a->set_size_bytes(static_cast<int64_t>(f->size));
    total += static_cast<int64_t>(f->size);
  }
  out->set_size_bytes(total);
  return absl::OkStatus();
}

absl::StatusOr<VmFilter> VmFilter::Parse(const std::string& text) {
  VmFilter f;
  if (absl::StripAsciiWhitespace(text).empty()) return f;
  for (absl::string_view term : absl::StrSplit(text, " AND ")) {
    term = absl::StripAsciiWhitespace(term);
    size_t eq = term.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("filter term \"", std::string(term), "\" is not field=value"));
    }
    std::string field(term.substr(0, eq)), value(term.substr(eq + 1));
    if (field == "state") {
      lpb::Vm::State s;
      if (!lpb::Vm::State_Parse(value, &s) || s == lpb::Vm::STATE_UNSPECIFIED) {
        return absl::InvalidArgumentError(
            absl::StrCat("filter: unknown state \"", value,
                         "\" (PENDING, STARTING, RUNNING, STOPPING, STOPPED or FAILED)"));
      }
    } else if (field != "image" && !absl::StartsWith(field, "labels.")) {
      return absl::InvalidArgumentError(
          absl::StrCat("filter: unknown field \"", field, "\" (state, image or labels.<key>)"));
    }
    f.terms_.emplace_back(field, value);
  }
  return f;
}

bool VmFilter::Matches(const Vm& vm) const {
  for (const auto& [field, value] : terms_) {
    if (field == "state") {
      if (ProtoStateName(StateToProto(vm)) != value) return false;
    } else if (field == "image") {
      if ("images/" + vm.spec.image != value) return false;
    } else {
      auto it = vm.spec.labels.find(field.substr(7));
      if (it == vm.spec.labels.end() || it->second != value) return false;
    }
  }
  return true;
}

}  // namespace clawos::launcher
