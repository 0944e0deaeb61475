// The VMs' own tokens for the inference proxy, issued by clawos-identity
// (subject "agents/<vm>", audience "clawos-inference-proxy") and cached until
// a third of their lifetime is left. Kept only in the launcher's memory.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace clawos::launcher {

inline constexpr char kInferenceAudience[] = "clawos-inference-proxy";

class AgentTokens {
 public:
  AgentTokens(std::string identity_addr, absl::Duration ttl)
      : addr_(std::move(identity_addr)), ttl_(ttl) {}
  // A token bound to `model` (the clawos_model claim; "" for none).
  absl::StatusOr<std::string> Get(const std::string& vm, const std::string& model);
  // Forgets the VM's token and revokes its subject (on delete).
  void Revoke(const std::string& vm);

 private:
  struct Cached {
    std::string token;
    std::string model;
    absl::Time issued;
    absl::Time expires;
  };
  std::string addr_;
  absl::Duration ttl_;
  std::mutex mu_;
  std::map<std::string, Cached> cache_;
};

}  // namespace clawos::launcher
