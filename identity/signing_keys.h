// The Ed25519 keys that sign tokens: one current key, retired keys kept for
// verification until every token they signed has expired, JWKS, rotation.
// Private keys are sealed under the master key in identity.db.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/crypto/ed25519.h"
#include "common/sqlite/db.h"
#include "identity/master_key.h"

namespace clawos::identity {

struct SigningKeyInfo {
  std::string kid;
  crypto::Ed25519PublicKey public_key;
  absl::Time create_time;
  std::optional<absl::Time> retire_time;  // unset while current
  absl::Duration max_token_ttl;
  // When a retired key can leave the JWKS: retire + max TTL + leeway.
  absl::Time purge_time() const;
  absl::Duration leeway;
};

class SigningKeys {
 public:
  // Loads keys from the db; makes the first key on a fresh db. `max_ttl` and
  // `leeway` bound how long a retired key must stay.
  static absl::StatusOr<std::unique_ptr<SigningKeys>> Load(sqlite::Db& db, const Sealer& sealer,
                                                           const Clock& clock,
                                                           absl::Duration max_ttl,
                                                           absl::Duration leeway);

  struct Current {
    std::string kid;
    std::shared_ptr<const crypto::Ed25519PrivateKey> key;
  };
  Current current() const;
  // The public key of a current or not yet purged retired key.
  std::optional<crypto::Ed25519PublicKey> Find(const std::string& kid) const;

  // Makes a new key current and retires the old one. Returns the new key.
  absl::StatusOr<SigningKeyInfo> Rotate();
  // Rotates when the current key is older than `interval` (0: never).
  absl::StatusOr<bool> RotateIfDue(absl::Duration interval);
  // Drops retired keys past their purge time.
  absl::Status PurgeExpired();

  std::vector<SigningKeyInfo> List() const;
  // RFC 7517 key set of every listed key.
  nlohmann::json Jwks() const;

 private:
  SigningKeys(sqlite::Db& db, const Sealer& sealer, const Clock& clock, absl::Duration max_ttl,
              absl::Duration leeway)
      : db_(db), sealer_(sealer), clock_(clock), max_ttl_(max_ttl), leeway_(leeway) {}
  absl::Status LoadAll();
  absl::StatusOr<SigningKeyInfo> CreateLocked();

  sqlite::Db& db_;
  const Sealer& sealer_;
  const Clock& clock_;
  absl::Duration max_ttl_;
  absl::Duration leeway_;

  mutable std::mutex mu_;
  std::map<std::string, SigningKeyInfo> keys_;  // by kid
  Current current_;
};

}  // namespace clawos::identity
