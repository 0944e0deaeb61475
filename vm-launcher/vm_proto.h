// The launcher's records in clawos.launcher.v1 terms, and the ListVms /
// WatchVms filter ("state=RUNNING AND image=images/x AND labels.k=v").
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "clawos/launcher/v1/launcher.pb.h"
#include "vm-launcher/launcher.h"

namespace clawos::launcher {

namespace lpb = ::clawos::launcher::v1;

// "vms/<id>" → id (validated); INVALID_ARGUMENT otherwise.
absl::StatusOr<std::string> VmIdFromName(const std::string& name);
absl::StatusOr<std::string> ImageIdFromName(const std::string& name);
// "templates/<16 hex digits>" → the id.
absl::StatusOr<std::string> TemplateIdFromName(const std::string& name);
void TemplateToProto(const TemplateRecord& rec, lpb::Template* out);

// Applies the documented defaults; INVALID_ARGUMENT for what cannot be.
absl::StatusOr<VmSpec> SpecFromProto(const std::string& vm_id, const lpb::VmSpec& spec);

lpb::Vm::State StateToProto(const Vm& vm);
// `with_env`: a trusted caller sees env values; others only the keys.
void VmToProto(const Vm& vm, const std::string& cgroup_path, bool with_env, lpb::Vm* out);
// Fills the image from its manifest (digests, verity, artefacts).
absl::Status ImageToProto(const ImageRecord& rec, lpb::Image* out);

class VmFilter {
 public:
  static absl::StatusOr<VmFilter> Parse(const std::string& text);
  bool Matches(const Vm& vm) const;

 private:
  std::vector<std::pair<std::string, std::string>> terms_;  // field → wanted value
};

}  // namespace clawos::launcher
