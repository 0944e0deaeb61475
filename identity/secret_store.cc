#include "identity/secret_store.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "identity/schema.h"

namespace clawos::identity {

absl::Status ValidateSecretId(const std::string& id) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid secret id \"", id.substr(0, 64), "\": ", why));
  };
  if (id.empty() || id.size() > 128) return bad("must be 1-128 characters");
  if (!std::isalnum(static_cast<unsigned char>(id[0])))
    return bad("must start with a letter or digit");
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return bad("only letters, digits, '.', '_' and '-' are allowed");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<SecretInfo> SecretStore::Write(const std::string& id, std::span<const uint8_t> value,
                                              bool must_be_new, bool allow_missing) {
  RETURN_IF_ERROR(ValidateSecretId(id));
  if (value.size() > kMaxSecretBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("secret value is ", value.size(), " bytes; the limit is ", kMaxSecretBytes));
  }
  ASSIGN_OR_RETURN(auto sealed, sealer_.Seal(value, SecretAad(id)));
  std::lock_guard lock(db_.mutex());
  ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(db_));
  auto existing = Get(id);
  if (existing.ok() && must_be_new) {
    return absl::AlreadyExistsError(absl::StrCat("secrets/", id, " already exists"));
  }
  if (!existing.ok() && existing.status().code() != absl::StatusCode::kNotFound) {
    return existing.status();
  }
  if (!existing.ok() && !must_be_new && !allow_missing) {
    return absl::NotFoundError(
        absl::StrCat("secrets/", id, " does not exist (set allow_missing to create it)"));
  }
  int64_t now = absl::ToUnixSeconds(clock_.Now());
  ASSIGN_OR_RETURN(auto st,
                   db_.Prepare("INSERT INTO secrets(name, sealed, size_bytes, create_time, "
                               "update_time) VALUES(?1, ?2, ?3, ?4, ?4) ON CONFLICT(name) DO "
                               "UPDATE SET sealed = ?2, size_bytes = ?3, update_time = ?4"));
  st.Bind(1, id).BindBlob(2, sealed).Bind(3, static_cast<int64_t>(value.size())).Bind(4, now);
  RETURN_IF_ERROR(st.Run());
  RETURN_IF_ERROR(tx->Commit());
  log::Info(existing.ok() ? "secret updated" : "secret created", {{"secret", id}});
  SecretInfo info{id, existing.ok() ? existing->create_time : absl::FromUnixSeconds(now),
                  absl::FromUnixSeconds(now), static_cast<int64_t>(value.size())};
  return info;
}

absl::StatusOr<SecretInfo> SecretStore::Create(const std::string& id,
                                               std::span<const uint8_t> value) {
  return Write(id, value, /*must_be_new=*/true, /*allow_missing=*/true);
}

absl::StatusOr<SecretInfo> SecretStore::Update(const std::string& id,
                                               std::span<const uint8_t> value, bool allow_missing) {
  return Write(id, value, /*must_be_new=*/false, allow_missing);
}

absl::StatusOr<SecretInfo> SecretStore::Get(const std::string& id) const {
  RETURN_IF_ERROR(ValidateSecretId(id));
  std::lock_guard lock(db_.mutex());
  ASSIGN_OR_RETURN(auto st, db_.Prepare("SELECT create_time, update_time, size_bytes FROM secrets "
                                        "WHERE name = ?"));
  st.Bind(1, id);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("secrets/", id, " does not exist"));
  return SecretInfo{id, absl::FromUnixSeconds(st.Int(0)), absl::FromUnixSeconds(st.Int(1)),
                    st.Int(2)};
}

absl::StatusOr<crypto::SecretBytes> SecretStore::Access(const std::string& id) const {
  RETURN_IF_ERROR(ValidateSecretId(id));
  std::vector<uint8_t> sealed;
  {
    std::lock_guard lock(db_.mutex());
    ASSIGN_OR_RETURN(auto st, db_.Prepare("SELECT sealed FROM secrets WHERE name = ?"));
    st.Bind(1, id);
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return absl::NotFoundError(absl::StrCat("secrets/", id, " does not exist"));
    sealed = st.Blob(0);
  }
  return sealer_.Open(sealed, SecretAad(id));
}

absl::StatusOr<std::vector<SecretInfo>> SecretStore::List(const std::string& after,
                                                          size_t limit) const {
  std::lock_guard lock(db_.mutex());
  ASSIGN_OR_RETURN(auto st, db_.Prepare("SELECT name, create_time, update_time, size_bytes FROM "
                                        "secrets WHERE name > ? ORDER BY name LIMIT ?"));
  st.Bind(1, after).Bind(2, static_cast<int64_t>(limit));
  std::vector<SecretInfo> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({st.Text(0), absl::FromUnixSeconds(st.Int(1)), absl::FromUnixSeconds(st.Int(2)),
                   st.Int(3)});
  }
  return out;
}

absl::Status SecretStore::Delete(const std::string& id) {
  RETURN_IF_ERROR(ValidateSecretId(id));
  std::lock_guard lock(db_.mutex());
  ASSIGN_OR_RETURN(auto st, db_.Prepare("DELETE FROM secrets WHERE name = ?"));
  st.Bind(1, id);
  RETURN_IF_ERROR(st.Run());
  if (db_.Changes() == 0)
    return absl::NotFoundError(absl::StrCat("secrets/", id, " does not exist"));
  log::Info("secret deleted", {{"secret", id}});
  return absl::OkStatus();
}

}  // namespace clawos::identity
