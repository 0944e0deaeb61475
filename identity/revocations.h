// Revoked tokens (by jti) and subjects, persisted in identity.db and held in
// memory for the verification hot path.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/sqlite/db.h"

namespace clawos::identity {

struct RevocationRecord {
  std::string jti;  // one of jti / subject is set
  std::string subject;
  absl::Time create_time;
  std::string reason;
};

class Revocations {
 public:
  // `retention`: how long a revoked jti must be remembered (max TTL + leeway).
  static absl::StatusOr<std::unique_ptr<Revocations>> Load(sqlite::Db& db, const Clock& clock,
                                                           absl::Duration retention);

  absl::StatusOr<RevocationRecord> RevokeToken(const std::string& jti, const std::string& reason);
  // Rejects every token of `subject` issued at or before now.
  absl::StatusOr<RevocationRecord> RevokeSubject(const std::string& subject,
                                                 const std::string& reason);

  bool IsTokenRevoked(const std::string& jti) const;
  bool IsSubjectRevoked(const std::string& subject, absl::Time issued_at) const;

  // Newest first, starting after `offset` records.
  std::vector<RevocationRecord> List(size_t offset, size_t limit) const;
  size_t size() const;
  absl::Status PurgeExpired();

 private:
  Revocations(sqlite::Db& db, const Clock& clock, absl::Duration retention)
      : db_(db), clock_(clock), retention_(retention) {}

  sqlite::Db& db_;
  const Clock& clock_;
  absl::Duration retention_;
  mutable std::mutex mu_;
  std::map<std::string, RevocationRecord> tokens_;    // by jti
  std::map<std::string, RevocationRecord> subjects_;  // by subject
};

}  // namespace clawos::identity
