#include "identity/revocations.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"

namespace clawos::identity {

absl::StatusOr<std::unique_ptr<Revocations>> Revocations::Load(sqlite::Db& db, const Clock& clock,
                                                               absl::Duration retention) {
  std::unique_ptr<Revocations> r(new Revocations(db, clock, retention));
  std::lock_guard db_lock(db.mutex());
  ASSIGN_OR_RETURN(auto t, db.Prepare("SELECT jti, create_time, reason FROM revoked_tokens"));
  for (;;) {
    ASSIGN_OR_RETURN(bool row, t.Step());
    if (!row) break;
    r->tokens_[t.Text(0)] = {t.Text(0), "", absl::FromUnixSeconds(t.Int(1)), t.Text(2)};
  }
  ASSIGN_OR_RETURN(auto s, db.Prepare("SELECT subject, create_time, reason FROM revoked_subjects"));
  for (;;) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    r->subjects_[s.Text(0)] = {"", s.Text(0), absl::FromUnixSeconds(s.Int(1)), s.Text(2)};
  }
  return r;
}

absl::StatusOr<RevocationRecord> Revocations::RevokeToken(const std::string& jti,
                                                          const std::string& reason) {
  if (jti.empty() || jti.size() > 256) {
    return absl::InvalidArgumentError("jti must be 1-256 characters");
  }
  std::lock_guard db_lock(db_.mutex());
  int64_t now = absl::ToUnixSeconds(clock_.Now());
  ASSIGN_OR_RETURN(auto st, db_.Prepare("INSERT INTO revoked_tokens(jti, create_time, purge_time, "
                                        "reason) VALUES(?, ?, ?, ?) ON CONFLICT(jti) DO NOTHING"));
  st.Bind(1, jti).Bind(2, now).Bind(3, now + absl::ToInt64Seconds(retention_)).Bind(4, reason);
  RETURN_IF_ERROR(st.Run());
  std::lock_guard lock(mu_);
  auto [it, inserted] =
      tokens_.try_emplace(jti, RevocationRecord{jti, "", absl::FromUnixSeconds(now), reason});
  log::Info("token revoked", {{"jti", jti}});
  return it->second;
}

absl::StatusOr<RevocationRecord> Revocations::RevokeSubject(const std::string& subject,
                                                            const std::string& reason) {
  if (subject.empty() || subject.size() > 256) {
    return absl::InvalidArgumentError("subject must be 1-256 characters");
  }
  std::lock_guard db_lock(db_.mutex());
  int64_t now = absl::ToUnixSeconds(clock_.Now());
  ASSIGN_OR_RETURN(auto st,
                   db_.Prepare("INSERT INTO revoked_subjects(subject, create_time, reason) "
                               "VALUES(?, ?, ?) ON CONFLICT(subject) DO UPDATE SET "
                               "create_time = excluded.create_time, reason = excluded.reason"));
  st.Bind(1, subject).Bind(2, now).Bind(3, reason);
  RETURN_IF_ERROR(st.Run());
  std::lock_guard lock(mu_);
  RevocationRecord rec{"", subject, absl::FromUnixSeconds(now), reason};
  subjects_[subject] = rec;
  log::Info("subject revoked", {{"subject", subject}});
  return rec;
}

bool Revocations::IsTokenRevoked(const std::string& jti) const {
  std::lock_guard lock(mu_);
  return tokens_.count(jti) > 0;
}

bool Revocations::IsSubjectRevoked(const std::string& subject, absl::Time issued_at) const {
  std::lock_guard lock(mu_);
  auto it = subjects_.find(subject);
  return it != subjects_.end() && issued_at <= it->second.create_time;
}

std::vector<RevocationRecord> Revocations::List(size_t offset, size_t limit) const {
  std::vector<RevocationRecord> all;
  {
    std::lock_guard lock(mu_);
    for (const auto& [k, v] : tokens_) all.push_back(v);
    for (const auto& [k, v] : subjects_) all.push_back(v);
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    if (a.create_time != b.create_time) return a.create_time > b.create_time;
    return a.jti + "\x01" + a.subject < b.jti + "\x01" + b.subject;
  });
  if (offset >= all.size()) return {};
  size_t end = std::min(all.size(), offset + limit);
  return {all.begin() + static_cast<long>(offset), all.begin() + static_cast<long>(end)};
}

size_t Revocations::size() const {
  std::lock_guard lock(mu_);
  return tokens_.size() + subjects_.size();
}

absl::Status Revocations::PurgeExpired() {
  std::lock_guard db_lock(db_.mutex());
  int64_t now = absl::ToUnixSeconds(clock_.Now());
  ASSIGN_OR_RETURN(auto sel, db_.Prepare("SELECT jti FROM revoked_tokens WHERE purge_time <= ?"));
  sel.Bind(1, now);
  std::vector<std::string> gone;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, sel.Step());
    if (!row) break;
    gone.push_back(sel.Text(0));
  }
  if (gone.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto del, db_.Prepare("DELETE FROM revoked_tokens WHERE purge_time <= ?"));
  del.Bind(1, now);
  RETURN_IF_ERROR(del.Run());
  std::lock_guard lock(mu_);
  for (const auto& j : gone) tokens_.erase(j);
  return absl::OkStatus();
}

}  // namespace clawos::identity
