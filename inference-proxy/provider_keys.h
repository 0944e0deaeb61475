// Provider API keys for the proxy: from the environment (wiped there once
// read, for the embedded default) or else from clawos-identity's sealed store
// (secrets "openai" and "anthropic", over its trusted unix socket). Keys never
// come from agents, and never appear in argv or logs.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace clawos::proxy {

// `env_name` if set (then unset), else the identity secret `secret_name`;
// NOT_FOUND when neither has it.
absl::StatusOr<std::string> LoadProviderKey(const std::string& env_name,
                                            const std::string& identity_addr,
                                            const std::string& secret_name);

}  // namespace clawos::proxy
