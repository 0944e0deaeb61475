// The master key that seals every secret and signing key at rest, and its
// rotation. Source: CLAWOS_MASTER_KEY (64 hex) or a file (CLAWOS_MASTER_KEY_PATH,
// created 0600 with a fresh key on first start when absent).
#pragma once

#include <shared_mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/secret.h"
#include "common/sqlite/db.h"

namespace clawos::identity {

struct MasterKeySource {
  std::string hex;   // from the environment; wins when set
  std::string path;  // file holding 64 hex characters
};

// Parses 64 hex characters (surrounding whitespace ignored) into 32 bytes.
absl::StatusOr<crypto::SecretBytes> ParseMasterKeyHex(std::string_view text);

// Seals and opens records under the master key; the key can be swapped by a
// rotation while other threads use it.
class Sealer {
 public:
  Sealer(crypto::SecretBytes key, MasterKeySource source)
      : key_(std::move(key)), source_(std::move(source)) {}

  absl::StatusOr<std::vector<uint8_t>> Seal(std::span<const uint8_t> plaintext,
                                            const std::string& aad) const;
  absl::StatusOr<crypto::SecretBytes> Open(std::span<const uint8_t> sealed,
                                           const std::string& aad) const;
  const MasterKeySource& source() const { return source_; }
  bool from_file() const { return source_.hex.empty(); }

  // Re-seals every sealed record of `db` under `new_key` in one transaction and
  // then uses it. When the key lives in a file, the new key is first written to
  // "<path>.next" and renamed over the file after the commit; a crash between
  // the two is finished by the next Load. Returns how many records were re-sealed.
  absl::StatusOr<int64_t> Rotate(sqlite::Db& db, crypto::SecretBytes new_key);

 private:
  mutable std::shared_mutex mu_;
  crypto::SecretBytes key_;
  MasterKeySource source_;
};

// Loads (or on a fresh state creates) the master key and checks it against the
// database's key-check record. A key that does not open the database is a
// FAILED_PRECONDITION that names the source; nothing is written in that case.
absl::StatusOr<std::unique_ptr<Sealer>> LoadMasterKey(const MasterKeySource& source,
                                                      sqlite::Db& db);

}  // namespace clawos::identity
