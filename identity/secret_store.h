// Named secrets (provider API keys and the like), each sealed with AES-256-GCM
// under the master key with a fresh nonce and its name as associated data.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/crypto/secret.h"
#include "common/sqlite/db.h"
#include "identity/master_key.h"

namespace clawos::identity {

inline constexpr size_t kMaxSecretBytes = 64 * 1024;

struct SecretInfo {
  std::string id;  // the part after "secrets/"
  absl::Time create_time;
  absl::Time update_time;
  int64_t size_bytes = 0;
};

// 1-128 of [A-Za-z0-9._-], starting with a letter or digit.
absl::Status ValidateSecretId(const std::string& id);

class SecretStore {
 public:
  SecretStore(sqlite::Db& db, const Sealer& sealer, const Clock& clock)
      : db_(db), sealer_(sealer), clock_(clock) {}

  // ALREADY_EXISTS when taken.
  absl::StatusOr<SecretInfo> Create(const std::string& id, std::span<const uint8_t> value);
  // NOT_FOUND when absent unless allow_missing.
  absl::StatusOr<SecretInfo> Update(const std::string& id, std::span<const uint8_t> value,
                                    bool allow_missing);
  absl::StatusOr<SecretInfo> Get(const std::string& id) const;
  absl::StatusOr<crypto::SecretBytes> Access(const std::string& id) const;
  // Ordered by id, ids strictly after `after`.
  absl::StatusOr<std::vector<SecretInfo>> List(const std::string& after, size_t limit) const;
  absl::Status Delete(const std::string& id);

 private:
  absl::StatusOr<SecretInfo> Write(const std::string& id, std::span<const uint8_t> value,
                                   bool must_be_new, bool allow_missing);
  sqlite::Db& db_;
  const Sealer& sealer_;
  const Clock& clock_;
};

}  // namespace clawos::identity
