#include "identity/identity_manager.h"

#include "absl/strings/str_cat.h"
#include "common/crypto/random.h"
#include "common/duration.h"
#include "common/files.h"
#include "common/log.h"
#include "common/status.h"
#include "identity/schema.h"

namespace clawos::identity {

absl::Status ValidateConfig(IdentityConfig& c) {
  if (c.state_dir.empty()) return absl::InvalidArgumentError("--state-dir must be set");
  if (c.master_key.path.empty()) c.master_key.path = c.state_dir + "/master.key";
  RETURN_IF_ERROR(ValidateName("--issuer", c.issuer.issuer));
  if (c.issuer.max_ttl < absl::Seconds(1) || c.issuer.max_ttl > absl::Hours(24 * 30)) {
    return absl::InvalidArgumentError("--max-ttl must be between 1s and 30d");
  }
  if (c.issuer.default_ttl < absl::Seconds(1) || c.issuer.default_ttl > c.issuer.max_ttl) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--default-ttl ", clawos::FormatDuration(c.issuer.default_ttl),
        " must be between 1s and --max-ttl (", clawos::FormatDuration(c.issuer.max_ttl), ")"));
  }
  if (c.leeway > kMaxLeeway) {
    return absl::InvalidArgumentError(
        absl::StrCat("--leeway must be at most ", clawos::FormatDuration(kMaxLeeway)));
  }
  if (c.key_rotation_interval != absl::ZeroDuration() &&
      c.key_rotation_interval < absl::Minutes(1)) {
    return absl::InvalidArgumentError("--key-rotation-interval must be 0 (off) or at least 1m");
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> RotateMasterKeyOffline(IdentityConfig config,
                                               const std::string& new_key_hex) {
  RETURN_IF_ERROR(ValidateConfig(config));
  RETURN_IF_ERROR(EnsurePrivateDir(config.state_dir));
  ASSIGN_OR_RETURN(auto lock, FileLock::Acquire(config.state_dir + "/identity.lock"));
  ASSIGN_OR_RETURN(auto db, sqlite::Db::Open(config.state_dir + "/identity.db", Migrations()));
  ASSIGN_OR_RETURN(auto sealer, LoadMasterKey(config.master_key, *db));
  crypto::SecretBytes next;
  if (new_key_hex.empty()) {
    if (!sealer->from_file()) {
      return absl::InvalidArgumentError(
          "the master key comes from CLAWOS_MASTER_KEY: give the new one in CLAWOS_NEW_MASTER_KEY");
    }
    ASSIGN_OR_RETURN(auto fresh, crypto::RandomBytes(32));
    next = crypto::SecretBytes(std::move(fresh));
  } else {
    ASSIGN_OR_RETURN(next, ParseMasterKeyHex(new_key_hex));
  }
  return sealer->Rotate(*db, std::move(next));
}

absl::StatusOr<std::unique_ptr<IdentityManager>> IdentityManager::Open(IdentityConfig config,
                                                                       const Clock& clock) {
  RETURN_IF_ERROR(ValidateConfig(config));
  RETURN_IF_ERROR(EnsurePrivateDir(config.state_dir));
  std::unique_ptr<IdentityManager> m(new IdentityManager(std::move(config), clock));
  const IdentityConfig& c = m->config_;
  auto lock = FileLock::Acquire(c.state_dir + "/identity.lock");
  if (!lock.ok()) return lock.status();
  m->lock_.emplace(std::move(*lock));
  ASSIGN_OR_RETURN(m->db_, sqlite::Db::Open(c.state_dir + "/identity.db", Migrations()));
  ASSIGN_OR_RETURN(m->sealer_, LoadMasterKey(c.master_key, *m->db_));
  ASSIGN_OR_RETURN(m->keys_,
                   SigningKeys::Load(*m->db_, *m->sealer_, clock, c.issuer.max_ttl, c.leeway));
  ASSIGN_OR_RETURN(m->revocations_, Revocations::Load(*m->db_, clock, c.issuer.max_ttl + c.leeway));
  m->secrets_ = std::make_unique<SecretStore>(*m->db_, *m->sealer_, clock);
  m->issuer_ = std::make_unique<TokenIssuer>(c.issuer, *m->keys_, clock);
  SigningKeys* keys = m->keys_.get();
  Revocations* rev = m->revocations_.get();
  VerifierDeps deps{
      [keys](const std::string& kid) { return keys->Find(kid); },
      [rev](const std::string& jti) { return rev->IsTokenRevoked(jti); },
      [rev](const std::string& sub, absl::Time iat) { return rev->IsSubjectRevoked(sub, iat); }};
  m->verifier_ = std::make_unique<TokenVerifier>(
      VerifierConfig{c.issuer.issuer, c.leeway, kMaxTokenBytes}, std::move(deps), clock);
  OidcConfig oidc;
  if (!c.oidc_config_file.empty()) {
    auto loaded = LoadOidcConfig(c.oidc_config_file);
    if (!loaded.ok()) return Annotate(loaded.status(), "--oidc-config");
    oidc = std::move(*loaded);
  }
  m->oidc_ = std::make_unique<OidcVerifier>(std::move(oidc), clock, c.leeway);
  RETURN_IF_ERROR(m->Maintain());
  return m;
}

IdentityManager::~IdentityManager() {
  {
    std::lock_guard lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (maintenance_.joinable()) maintenance_.join();
}

absl::StatusOr<IssuedToken> IdentityManager::Issue(const IssueRequest& request) const {
  auto t = issuer_->Issue(request);
  if (t.ok()) {
    log::Info("token issued", {{"sub", t->claims.subject},
                               {"aud", t->claims.audience},
                               {"jti", t->claims.jti},
                               {"kid", t->claims.kid}});
  }
  return t;
}

absl::StatusOr<Claims> IdentityManager::Verify(std::string_view token,
                                               const std::string& audience) const {
  return verifier_->Verify(token, audience);
}

absl::StatusOr<IssuedToken> IdentityManager::ExchangeOidc(std::string_view id_token,
                                                          absl::Duration ttl) const {
  auto verified = oidc_->Verify(id_token);
  if (verified.status().code() == absl::StatusCode::kPermissionDenied) {
    // A genuine principal of a configured issuer that no rule allows.
    log::Warn("OIDC exchange refused", {{"error", std::string(verified.status().message())}});
  }
  ASSIGN_OR_RETURN(auto who, std::move(verified));
  IssueRequest r;
  r.subject = who.subject;
  r.audience = oidc_->config().operator_audience;
  r.ttl = ttl;
  r.role = who.role;
  r.identity_provider = who.issuer;
  auto t = issuer_->Issue(r);
  if (t.ok()) {
    log::Info(
        "OIDC token exchanged",
        {{"sub", who.subject}, {"idp", who.issuer}, {"role", who.role}, {"jti", t->claims.jti}});
  }
  return t;
}

absl::StatusOr<int64_t> IdentityManager::RotateMasterKey() {
  if (!sealer_->from_file()) {
    return absl::FailedPreconditionError(
        "the master key comes from CLAWOS_MASTER_KEY; stop the daemon and run "
        "`clawos-identity rotate-master-key` with CLAWOS_NEW_MASTER_KEY set");
  }
  ASSIGN_OR_RETURN(auto fresh, crypto::RandomBytes(32));
  auto n = sealer_->Rotate(*db_, crypto::SecretBytes(std::move(fresh)));
  if (n.ok()) log::Info("master key rotated", {{"resealed_records", *n}});
  return n;
}

absl::Status IdentityManager::Maintain() {
  auto rotated = keys_->RotateIfDue(config_.key_rotation_interval);
  if (!rotated.ok()) return rotated.status();
  RETURN_IF_ERROR(keys_->PurgeExpired());
  return revocations_->PurgeExpired();
}

void IdentityManager::StartMaintenance(absl::Duration every) {
  maintenance_ = std::thread([this, every] {
    std::unique_lock lock(stop_mu_);
    while (!stop_cv_.wait_for(lock, absl::ToChronoSeconds(every), [this] { return stopping_; })) {
      lock.unlock();
      if (auto s = Maintain(); !s.ok()) {
        log::Error("maintenance failed", {{"error", std::string(s.message())}});
      }
      lock.lock();
    }
  });
}

}  // namespace clawos::identity
