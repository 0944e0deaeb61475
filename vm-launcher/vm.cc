#include "vm-launcher/vm.h"

#include <cctype>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/crypto/encoding.h"
#include "common/crypto/sha256.h"

namespace clawos::launcher {

const char* VmStateName(VmState s) {
  switch (s) {
    case VmState::kCreating:
      return "CREATING";
    case VmState::kBooting:
      return "BOOTING";
    case VmState::kRunning:
      return "RUNNING";
    case VmState::kStopping:
      return "STOPPING";
    case VmState::kStopped:
      return "STOPPED";
    case VmState::kFailed:
      return "FAILED";
  }
  return "UNKNOWN";
}

bool ParseVmState(const std::string& name, VmState* out) {
  for (VmState s : {VmState::kCreating, VmState::kBooting, VmState::kRunning, VmState::kStopping,
                    VmState::kStopped, VmState::kFailed}) {
    if (name == VmStateName(s)) {
      *out = s;
      return true;
    }
  }
  return false;
}

absl::Status ValidateVmName(const std::string& n) {
  bool ok = !n.empty() && n.size() <= 63 &&
            ((n[0] >= 'a' && n[0] <= 'z') || (n[0] >= '0' && n[0] <= '9'));
  for (char c : n) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("VM name \"", n.substr(0, 80),
                     "\" must be 1-63 of [a-z0-9-], starting with a letter or digit"));
  }
  return absl::OkStatus();
}

absl::Status ValidateVmSpec(const VmSpec& s, const VmLimits& l) {
  if (auto st = ValidateVmName(s.name); !st.ok()) return st;
  if (s.image.empty()) return absl::InvalidArgumentError("image is required");
  if (s.vcpus < 1 || s.vcpus > l.max_vcpus) {
    return absl::InvalidArgumentError(
        absl::StrCat("vcpus must be 1-", l.max_vcpus, ", got ", s.vcpus));
  }
  if (s.memory_mib < 128 || s.memory_mib > l.max_memory_mib) {
    return absl::InvalidArgumentError(
        absl::StrCat("memory must be 128-", l.max_memory_mib, " MiB, got ", s.memory_mib));
  }
  for (auto [what, v] : {std::pair<const char*, int64_t>{"runtime disk", s.runtime_disk_mib},
                         {"workspace disk", s.workspace_disk_mib}}) {
    if (v < 16 || v > l.max_disk_mib) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " must be 16-", l.max_disk_mib, " MiB, got ", v));
    }
  }
  if (s.env.size() > 64) return absl::InvalidArgumentError("env has more than 64 entries");
  size_t env_bytes = 0;
  for (const auto& [k, v] : s.env) {
    bool ok = !k.empty() && !(k[0] >= '0' && k[0] <= '9');
    for (char c : k) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("env key \"", k.substr(0, 80), "\" must match [A-Za-z_][A-Za-z0-9_]*"));
    }
    env_bytes += k.size() + v.size();
  }
  if (env_bytes > 32 * 1024) return absl::InvalidArgumentError("env is over 32 KiB");
  for (const auto& [k, v] : s.labels) {
    bool ok = !k.empty() && k.size() <= 63 && k[0] >= 'a' && k[0] <= 'z';
    for (char c : k)
      ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-');
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "label key \"", k.substr(0, 80), "\" must be 1-63 of [a-z0-9_-] starting with a letter"));
    }
    if (v.size() > 63) {
      return absl::InvalidArgumentError(absl::StrCat("label ", k, ": value over 63 characters"));
    }
  }
  if (s.model.size() > 128) return absl::InvalidArgumentError("model is over 128 characters");
  for (char c : s.model) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && !std::strchr("._:/@-", c)) {
      return absl::InvalidArgumentError(
          absl::StrCat("model \"", s.model.substr(0, 80), "\" must be of [A-Za-z0-9._:/@-]"));
    }
  }
  if (s.network != "none" && s.network != "bridge") {
    return absl::InvalidArgumentError(
        absl::StrCat("network must be none or bridge, got \"", s.network, "\""));
  }
  return absl::OkStatus();
}

absl::Status CheckAllowed(const Vm& vm, VmOp op) {
  VmState s = vm.state;
  bool ok = false;
  const char* what = "";
  switch (op) {
    case VmOp::kStart:
      ok = s == VmState::kStopped || s == VmState::kFailed;  // CREATING: its disks are being made
      what = "start";
      break;
    case VmOp::kStop:
      ok = s == VmState::kRunning || s == VmState::kBooting;
      what = "stop";
      break;
    case VmOp::kDelete:
      ok = s == VmState::kStopped || s == VmState::kFailed;
      what = "delete";
      break;
    case VmOp::kExec:
      ok = s == VmState::kRunning;
      what = "exec in";
      break;
  }
  if (ok) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("cannot ", what, " VM ", vm.spec.name, ": it is ", VmStateName(s),
                   op == VmOp::kDelete && s != VmState::kCreating ? " (stop it first)" : ""));
}

std::string MachineId(const Vm& vm) {
  crypto::Sha256 h;
  h.Update(std::string_view("clawos machine id\0", 18));
  h.Update(vm.spec.name);
  h.Update(std::string_view("\0", 1));
  h.Update(absl::StrCat(absl::ToUnixNanos(vm.create_time)));
  crypto::Sha256Digest d = h.Final();
  return crypto::HexEncode(std::span<const uint8_t>(d.data(), 16));
}

}  // namespace clawos::launcher
