// The identity manager: everything clawos-identity does, without the network.
// Owns identity.db, the master key, signing keys, revocations, secrets and
// OIDC exchange; the gRPC service only adapts requests to it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/files.h"
#include "common/sqlite/db.h"
#include "identity/master_key.h"
#include "identity/oidc.h"
#include "identity/revocations.h"
#include "identity/secret_store.h"
#include "identity/signing_keys.h"
#include "identity/token_issuer.h"
#include "identity/token_verifier.h"

namespace clawos::identity {

struct IdentityConfig {
  std::string state_dir = "/var/lib/clawos/identity";
  IssuerConfig issuer;
  absl::Duration leeway = absl::Seconds(30);
  // 0 disables scheduled rotation.
  absl::Duration key_rotation_interval = absl::Hours(24 * 30);
  MasterKeySource master_key;  // path defaults to <state_dir>/master.key
  std::string oidc_config_file;
};

// Checks bounds and fills defaults; INVALID_ARGUMENT says which setting is wrong.
absl::Status ValidateConfig(IdentityConfig& config);

// Offline master-key rotation (`clawos-identity rotate-master-key`): takes the
// state directory's lock (so no daemon is running on it), checks the current
// key, and re-seals everything under `new_key_hex`, or under a fresh key
// written to the key file when it is empty. Returns the re-sealed count.
absl::StatusOr<int64_t> RotateMasterKeyOffline(IdentityConfig config,
                                               const std::string& new_key_hex);

class IdentityManager {
 public:
  static absl::StatusOr<std::unique_ptr<IdentityManager>> Open(IdentityConfig config,
                                                               const Clock& clock);
  ~IdentityManager();

  absl::StatusOr<IssuedToken> Issue(const IssueRequest& request) const;
  absl::StatusOr<Claims> Verify(std::string_view token, const std::string& audience) const;
  absl::StatusOr<IssuedToken> ExchangeOidc(std::string_view id_token, absl::Duration ttl) const;

  Revocations& revocations() { return *revocations_; }
  SigningKeys& signing_keys() { return *keys_; }
  SecretStore& secrets() { return *secrets_; }
  // Generates a new master key and re-seals everything; file-held keys only.
  absl::StatusOr<int64_t> RotateMasterKey();

  // Scheduled work: rotate the signing key when due, purge what has expired.
  absl::Status Maintain();
  // Runs Maintain() every `every` on a background thread until destruction.
  void StartMaintenance(absl::Duration every);

  const IdentityConfig& config() const { return config_; }
  sqlite::Db& db() { return *db_; }

 private:
  IdentityManager(IdentityConfig config, const Clock& clock)
      : config_(std::move(config)), clock_(clock) {}

  IdentityConfig config_;
  const Clock& clock_;
  std::optional<FileLock> lock_;  // one process owns a state directory
  std::unique_ptr<sqlite::Db> db_;
  std::unique_ptr<Sealer> sealer_;
  std::unique_ptr<SigningKeys> keys_;
  std::unique_ptr<Revocations> revocations_;
  std::unique_ptr<SecretStore> secrets_;
  std::unique_ptr<TokenIssuer> issuer_;
  std::unique_ptr<TokenVerifier> verifier_;
  std::unique_ptr<OidcVerifier> oidc_;

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread maintenance_;
};

}  // namespace clawos::identity
