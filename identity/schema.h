// The identity database (identity.db) schema, as versioned migrations.
#pragma once

#include <string>
#include <vector>

#include "common/sqlite/db.h"

namespace clawos::identity {

const std::vector<sqlite::Migration>& Migrations();

// Associated data binding each sealed record to its place, so a sealed value
// cannot be moved to another row or table and still open.
std::string SecretAad(const std::string& name);
std::string SigningKeyAad(const std::string& kid);
inline constexpr char kKeyCheckAad[] = "clawos/identity/key-check";
inline constexpr char kKeyCheckPlaintext[] = "clawos master key check v1";

}  // namespace clawos::identity
