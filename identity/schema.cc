#include "identity/schema.h"

namespace clawos::identity {

const std::vector<sqlite::Migration>& Migrations() {
  static const std::vector<sqlite::Migration> kMigrations = {
      {1, R"sql(
CREATE TABLE meta(
  key   TEXT PRIMARY KEY,
  value BLOB NOT NULL
);
CREATE TABLE signing_keys(
  kid            TEXT PRIMARY KEY,
  public_key     BLOB NOT NULL,
  sealed_private BLOB NOT NULL,
  create_time    INTEGER NOT NULL,
  retire_time    INTEGER,          -- NULL while current
  max_token_ttl  INTEGER NOT NULL  -- seconds: the longest TTL this key may have signed
);
CREATE TABLE revoked_tokens(
  jti         TEXT PRIMARY KEY,
  create_time INTEGER NOT NULL,
  purge_time  INTEGER NOT NULL,  -- after this no token with the jti can be alive
  reason      TEXT NOT NULL
);
CREATE TABLE revoked_subjects(
  subject     TEXT PRIMARY KEY,
  create_time INTEGER NOT NULL,  -- tokens issued at or before this are rejected
  reason      TEXT NOT NULL
);
CREATE TABLE secrets(
  name        TEXT PRIMARY KEY,
  sealed      BLOB NOT NULL,
  size_bytes  INTEGER NOT NULL,
  create_time INTEGER NOT NULL,
  update_time INTEGER NOT NULL
);
)sql"},
  };
  return kMigrations;
}

std::string SecretAad(const std::string& name) { return "clawos/identity/secret/" + name; }
std::string SigningKeyAad(const std::string& kid) { return "clawos/identity/signing-key/" + kid; }

}  // namespace clawos::identity
