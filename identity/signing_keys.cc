#include "identity/signing_keys.h"

#include "absl/strings/str_cat.h"
#include "common/crypto/encoding.h"
#include "common/crypto/jwk.h"
#include "common/log.h"
#include "common/status.h"
#include "identity/schema.h"

namespace clawos::identity {

absl::Time SigningKeyInfo::purge_time() const {
  if (!retire_time) return absl::InfiniteFuture();
  return *retire_time + max_token_ttl + leeway;
}

absl::StatusOr<std::unique_ptr<SigningKeys>> SigningKeys::Load(sqlite::Db& db, const Sealer& sealer,
                                                               const Clock& clock,
                                                               absl::Duration max_ttl,
                                                               absl::Duration leeway) {
  std::unique_ptr<SigningKeys> keys(new SigningKeys(db, sealer, clock, max_ttl, leeway));
  std::lock_guard db_lock(db.mutex());
  std::lock_guard lock(keys->mu_);
  // A longer --max-ttl than before: the current key may now sign longer tokens.
  ASSIGN_OR_RETURN(auto st, db.Prepare("UPDATE signing_keys SET max_token_ttl = ? "
                                       "WHERE retire_time IS NULL AND max_token_ttl < ?"));
  st.Bind(1, absl::ToInt64Seconds(max_ttl)).Bind(2, absl::ToInt64Seconds(max_ttl));
  RETURN_IF_ERROR(st.Run());
  RETURN_IF_ERROR(keys->LoadAll());
  if (!keys->current_.key) {
    auto created = keys->CreateLocked();
    if (!created.ok()) return created.status();
  }
  return keys;
}

absl::Status SigningKeys::LoadAll() {
  ASSIGN_OR_RETURN(auto st, db_.Prepare("SELECT kid, public_key, sealed_private, create_time, "
                                        "retire_time, max_token_ttl FROM signing_keys"));
  keys_.clear();
  current_ = {};
  for (;;) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    SigningKeyInfo info;
    info.kid = st.Text(0);
    auto pub = st.Blob(1);
    if (pub.size() != 32) {
      return absl::DataLossError(absl::StrCat("signing key ", info.kid, " has a bad public key"));
    }
    std::copy(pub.begin(), pub.end(), info.public_key.begin());
    info.create_time = absl::FromUnixSeconds(st.Int(3));
    if (!st.IsNull(4)) info.retire_time = absl::FromUnixSeconds(st.Int(4));
    info.max_token_ttl = absl::Seconds(st.Int(5));
    info.leeway = leeway_;
    // Retired keys only verify; their private halves were erased at retirement.
    if (!info.retire_time) {
      ASSIGN_OR_RETURN(auto seed, sealer_.Open(st.Blob(2), SigningKeyAad(info.kid)));
      ASSIGN_OR_RETURN(auto key, crypto::Ed25519PrivateKey::FromSeed(seed.span()));
      if (key.public_key() != info.public_key) {
        return absl::DataLossError(
            absl::StrCat("signing key ", info.kid, ": private and public parts do not match"));
      }
      current_ = {info.kid, std::make_shared<crypto::Ed25519PrivateKey>(std::move(key))};
    }
    keys_[info.kid] = info;
  }
  return absl::OkStatus();
}

absl::StatusOr<SigningKeyInfo> SigningKeys::CreateLocked() {
  ASSIGN_OR_RETURN(auto key, crypto::Ed25519PrivateKey::Generate());
  SigningKeyInfo info;
  info.public_key = key.public_key();
  info.kid = crypto::Ed25519Thumbprint(info.public_key);
  info.create_time = absl::FromUnixSeconds(absl::ToUnixSeconds(clock_.Now()));
  info.max_token_ttl = max_ttl_;
  info.leeway = leeway_;
  auto seed = key.Seed();
  ASSIGN_OR_RETURN(auto sealed, sealer_.Seal(seed.span(), SigningKeyAad(info.kid)));

  ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(db_));
  int64_t now = absl::ToUnixSeconds(info.create_time);
  ASSIGN_OR_RETURN(auto retire,
                   db_.Prepare("UPDATE signing_keys SET retire_time = ?, sealed_private = x'' "
                               "WHERE retire_time IS NULL"));
  retire.Bind(1, now);
  RETURN_IF_ERROR(retire.Run());
  ASSIGN_OR_RETURN(auto ins,
                   db_.Prepare("INSERT INTO signing_keys(kid, public_key, sealed_private, "
                               "create_time, retire_time, max_token_ttl) "
                               "VALUES(?, ?, ?, ?, NULL, ?)"));
  ins.Bind(1, info.kid)
      .BindBlob(2, info.public_key)
      .BindBlob(3, sealed)
      .Bind(4, now)
      .Bind(5, absl::ToInt64Seconds(max_ttl_));
  RETURN_IF_ERROR(ins.Run());
  RETURN_IF_ERROR(tx->Commit());

  if (current_.key) keys_[current_.kid].retire_time = info.create_time;
  keys_[info.kid] = info;
  current_ = {info.kid, std::make_shared<crypto::Ed25519PrivateKey>(std::move(key))};
  log::Info("signing key created", {{"kid", info.kid}});
  return info;
}

SigningKeys::Current SigningKeys::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

std::optional<crypto::Ed25519PublicKey> SigningKeys::Find(const std::string& kid) const {
  std::lock_guard lock(mu_);
  auto it = keys_.find(kid);
  if (it == keys_.end() || clock_.Now() >= it->second.purge_time()) return std::nullopt;
  return it->second.public_key;
}

absl::StatusOr<SigningKeyInfo> SigningKeys::Rotate() {
  std::lock_guard db_lock(db_.mutex());
  std::lock_guard lock(mu_);
  return CreateLocked();
}

absl::StatusOr<bool> SigningKeys::RotateIfDue(absl::Duration interval) {
  if (interval <= absl::ZeroDuration()) return false;
  std::lock_guard db_lock(db_.mutex());
  std::lock_guard lock(mu_);
  if (clock_.Now() - keys_[current_.kid].create_time < interval) return false;
  auto made = CreateLocked();
  if (!made.ok()) return made.status();
  return true;
}

absl::Status SigningKeys::PurgeExpired() {
  std::lock_guard db_lock(db_.mutex());
  std::lock_guard lock(mu_);
  absl::Time now = clock_.Now();
  for (auto it = keys_.begin(); it != keys_.end();) {
    if (now < it->second.purge_time()) {
      ++it;
      continue;
    }
    ASSIGN_OR_RETURN(auto del, db_.Prepare("DELETE FROM signing_keys WHERE kid = ?"));
    del.Bind(1, it->first);
    RETURN_IF_ERROR(del.Run());
    log::Info("retired signing key purged", {{"kid", it->first}});
    it = keys_.erase(it);
  }
  return absl::OkStatus();
}

std::vector<SigningKeyInfo> SigningKeys::List() const {
  std::lock_guard lock(mu_);
  std::vector<SigningKeyInfo> out;
  absl::Time now = clock_.Now();
  for (const auto& [kid, info] : keys_) {
    if (now < info.purge_time()) out.push_back(info);
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.create_time > b.create_time; });
  return out;
}

nlohmann::json SigningKeys::Jwks() const {
  nlohmann::json keys = nlohmann::json::array();
  for (const auto& info : List()) {
    keys.push_back({{"kty", "OKP"},
                    {"crv", "Ed25519"},
                    {"kid", info.kid},
                    {"x", crypto::Base64UrlEncode(info.public_key)},
                    {"alg", "EdDSA"},
                    {"use", "sig"}});
  }
  return {{"keys", keys}};
}

}  // namespace clawos::identity
