#include "identity/master_key.h"

#include <unistd.h>

#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/aes_gcm.h"
#include "common/crypto/encoding.h"
#include "common/crypto/random.h"
#include "common/files.h"
#include "common/log.h"
#include "common/status.h"
#include "identity/schema.h"

namespace clawos::identity {
namespace {

std::span<const uint8_t> Bytes(const std::string& s) { return crypto::AsBytes(s); }

std::string NextPath(const std::string& path) { return path + ".next"; }

absl::StatusOr<crypto::SecretBytes> ReadKeyFile(const std::string& path) {
  RETURN_IF_ERROR(CheckPrivateFile(path));
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  auto key = ParseMasterKeyHex(*text);
  crypto::SecureZero(text->data(), text->size());
  if (!key.ok()) return Annotate(key.status(), absl::StrCat("master key file ", path));
  return key;
}

absl::Status WriteKeyFile(const std::string& path, const crypto::SecretBytes& key) {
  std::string hex = crypto::HexEncode(key.span()) + "\n";
  auto s = WriteFileAtomic(path, hex, 0600);
  crypto::SecureZero(hex.data(), hex.size());
  return s;
}

// True when `key` opens the key-check record; NOT_FOUND when there is none.
absl::StatusOr<bool> KeyOpensDb(sqlite::Db& db, const crypto::SecretBytes& key) {
  ASSIGN_OR_RETURN(auto st, db.Prepare("SELECT value FROM meta WHERE key = 'key_check'"));
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return absl::NotFoundError("no key check");
  auto opened = crypto::AesGcmOpen(key.span(), st.Blob(0), Bytes(kKeyCheckAad));
  return opened.ok() && crypto::AsString(opened->span()) == kKeyCheckPlaintext;
}

absl::Status WriteKeyCheck(sqlite::Db& db, const crypto::SecretBytes& key) {
  ASSIGN_OR_RETURN(auto sealed,
                   crypto::AesGcmSeal(key.span(), Bytes(kKeyCheckPlaintext), Bytes(kKeyCheckAad)));
  ASSIGN_OR_RETURN(auto st,
                   db.Prepare("INSERT OR REPLACE INTO meta(key, value) VALUES('key_check', ?)"));
  st.BindBlob(1, sealed);
  return st.Run();
}

// Re-seals the blob column of every row of `table` in place.
absl::StatusOr<int64_t> ResealTable(sqlite::Db& db, const std::string& table,
                                    const std::string& id_col, const std::string& blob_col,
                                    std::string (*aad)(const std::string&),
                                    const crypto::SecretBytes& old_key,
                                    const crypto::SecretBytes& new_key) {
  ASSIGN_OR_RETURN(auto sel, db.Prepare(absl::StrCat("SELECT ", id_col, ", ", blob_col, " FROM ",
                                                     table, " WHERE length(", blob_col, ") > 0")));
  std::vector<std::pair<std::string, std::vector<uint8_t>>> rows;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, sel.Step());
    if (!row) break;
    rows.emplace_back(sel.Text(0), sel.Blob(1));
  }
  for (auto& [id, sealed] : rows) {
    std::string a = aad(id);
    auto plain = crypto::AesGcmOpen(old_key.span(), sealed, Bytes(a));
    if (!plain.ok()) {
      return absl::DataLossError(absl::StrCat("record ", table, "/", id,
                                              " does not open under the current master key; "
                                              "rotation aborted, nothing changed"));
    }
    ASSIGN_OR_RETURN(auto resealed, crypto::AesGcmSeal(new_key.span(), plain->span(), Bytes(a)));
    ASSIGN_OR_RETURN(auto upd, db.Prepare(absl::StrCat("UPDATE ", table, " SET ", blob_col,
                                                       " = ? WHERE ", id_col, " = ?")));
    upd.BindBlob(1, resealed).Bind(2, id);
    RETURN_IF_ERROR(upd.Run());
  }
  return static_cast<int64_t>(rows.size());
}

}  // namespace

absl::StatusOr<crypto::SecretBytes> ParseMasterKeyHex(std::string_view text) {
  std::string t(absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size())));
  if (t.size() != 64) {
    return absl::InvalidArgumentError(absl::StrCat(
        "master key must be 64 hex characters (32 bytes), got ", t.size(), " characters"));
  }
  auto bytes = crypto::HexDecode(t);
  crypto::SecureZero(t.data(), t.size());
  if (!bytes.ok()) return absl::InvalidArgumentError("master key is not hex");
  return crypto::SecretBytes(std::move(*bytes));
}

absl::StatusOr<std::vector<uint8_t>> Sealer::Seal(std::span<const uint8_t> plaintext,
                                                  const std::string& aad) const {
  std::shared_lock lock(mu_);
  return crypto::AesGcmSeal(key_.span(), plaintext, Bytes(aad));
}

absl::StatusOr<crypto::SecretBytes> Sealer::Open(std::span<const uint8_t> sealed,
                                                 const std::string& aad) const {
  std::shared_lock lock(mu_);
  auto out = crypto::AesGcmOpen(key_.span(), sealed, Bytes(aad));
  if (!out.ok()) {
    return absl::DataLossError(
        absl::StrCat("sealed record ", aad, " failed authentication (tampered or corrupt)"));
  }
  return out;
}

absl::StatusOr<int64_t> Sealer::Rotate(sqlite::Db& db, crypto::SecretBytes new_key) {
  if (new_key.size() != 32) return absl::InvalidArgumentError("new master key must be 32 bytes");
  // Lock order everywhere: the database, then the key.
  std::lock_guard db_lock(db.mutex());
  std::unique_lock lock(mu_);
  if (from_file()) RETURN_IF_ERROR(WriteKeyFile(NextPath(source_.path), new_key));
  ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(db));
  ASSIGN_OR_RETURN(int64_t n1,
                   ResealTable(db, "secrets", "name", "sealed", &SecretAad, key_, new_key));
  ASSIGN_OR_RETURN(int64_t n2, ResealTable(db, "signing_keys", "kid", "sealed_private",
                                           &SigningKeyAad, key_, new_key));
  RETURN_IF_ERROR(WriteKeyCheck(db, new_key));
  RETURN_IF_ERROR(tx->Commit());
  // Committed: from here on the new key is the key, whatever happens to the file.
  key_ = std::move(new_key);
  if (from_file()) {
    if (::rename(NextPath(source_.path).c_str(), source_.path.c_str()) != 0) {
      return ErrnoStatus(errno,
                         "the data is re-sealed but installing the new master key file "
                         "failed (the next start completes it from master.key.next)");
    }
  }
  return n1 + n2;
}

absl::StatusOr<std::unique_ptr<Sealer>> LoadMasterKey(const MasterKeySource& source,
                                                      sqlite::Db& db) {
  std::lock_guard db_lock(db.mutex());
  crypto::SecretBytes key;
  std::string where;
  if (!source.hex.empty()) {
    auto k = ParseMasterKeyHex(source.hex);
    if (!k.ok()) return Annotate(k.status(), "CLAWOS_MASTER_KEY");
    key = std::move(*k);
    where = "CLAWOS_MASTER_KEY";
  } else {
    if (source.path.empty()) {
      return absl::InvalidArgumentError(
          "no master key: set CLAWOS_MASTER_KEY or CLAWOS_MASTER_KEY_PATH");
    }
    where = source.path;
    if (PathExists(source.path)) {
      ASSIGN_OR_RETURN(key, ReadKeyFile(source.path));
    } else {
      // A fresh key is only created for a fresh database: a missing key file
      // next to sealed data is an error, never a reason to start over.
      auto has_check = KeyOpensDb(db, crypto::SecretBytes());
      if (has_check.status().code() != absl::StatusCode::kNotFound) {
        return absl::FailedPreconditionError(absl::StrCat(
            "master key file ", source.path, " is missing but ", db.path(),
            " holds data sealed under a master key; restore the key file (nothing was changed)"));
      }
      ASSIGN_OR_RETURN(auto fresh, crypto::RandomBytes(32));
      key = crypto::SecretBytes(std::move(fresh));
      RETURN_IF_ERROR(WriteKeyFile(source.path, key));
      log::Info("created a new master key file", {{"path", source.path}});
    }
  }
  auto opens = KeyOpensDb(db, key);
  if (opens.status().code() == absl::StatusCode::kNotFound) {
    RETURN_IF_ERROR(WriteKeyCheck(db, key));
    opens = true;
  }
  if (!opens.ok()) return opens.status();
  if (!*opens && source.hex.empty() && PathExists(NextPath(source.path))) {
    // A rotation committed but crashed before renaming the new key into place.
    ASSIGN_OR_RETURN(auto next, ReadKeyFile(NextPath(source.path)));
    ASSIGN_OR_RETURN(bool next_opens, KeyOpensDb(db, next));
    if (next_opens) {
      if (::rename(NextPath(source.path).c_str(), source.path.c_str()) != 0) {
        return ErrnoStatus(errno, "completing an interrupted master-key rotation");
      }
      log::Warn("completed an interrupted master-key rotation", {{"path", source.path}});
      key = std::move(next);
      opens = true;
    }
  }
  if (!*opens) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the master key from ", where, " does not open ", db.path(),
        " (it was sealed under a different key); refusing to start, nothing was changed"));
  }
  if (source.hex.empty() && PathExists(NextPath(source.path))) {
    ::unlink(NextPath(source.path).c_str());  // a rotation that never committed
  }
  return std::make_unique<Sealer>(std::move(key), source);
}

}  // namespace clawos::identity
