#include "inference-proxy/limit_store.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace clawos::proxy {
namespace {

const std::vector<sqlite::Migration>& Migrations() {
  static const std::vector<sqlite::Migration> m = {{1, R"sql(
CREATE TABLE limits(
  subject TEXT PRIMARY KEY,
  json    TEXT NOT NULL     -- the override's set fields
);
)sql"}};
  return m;
}

std::string ToJson(const LimitOverride& o) {
  nlohmann::json j = nlohmann::json::object();
  if (o.requests_per_minute) j["requests_per_minute"] = *o.requests_per_minute;
  if (o.tokens_per_minute) j["tokens_per_minute"] = *o.tokens_per_minute;
  if (o.budget_tokens) j["budget_tokens"] = *o.budget_tokens;
  if (o.budget_window) j["budget_window_s"] = absl::ToInt64Seconds(*o.budget_window);
  if (o.allowed_models) j["allowed_models"] = *o.allowed_models;
  return j.dump();
}

LimitOverride FromJson(const std::string& text) {
  LimitOverride o;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return o;
  if (j.contains("requests_per_minute"))
    o.requests_per_minute = j["requests_per_minute"].get<int64_t>();
  if (j.contains("tokens_per_minute")) o.tokens_per_minute = j["tokens_per_minute"].get<int64_t>();
  if (j.contains("budget_tokens")) o.budget_tokens = j["budget_tokens"].get<int64_t>();
  if (j.contains("budget_window_s"))
    o.budget_window = absl::Seconds(j["budget_window_s"].get<int64_t>());
  if (j.contains("allowed_models") && j["allowed_models"].is_array()) {
    std::vector<std::string> models;
    for (const auto& m : j["allowed_models"]) {
      if (m.is_string()) models.push_back(m.get<std::string>());
    }
    o.allowed_models = std::move(models);
  }
  return o;
}

}  // namespace

LimitValues Merge(LimitValues v, const LimitOverride& o) {
  if (o.requests_per_minute) v.requests_per_minute = *o.requests_per_minute;
  if (o.tokens_per_minute) v.tokens_per_minute = *o.tokens_per_minute;
  if (o.budget_tokens) v.budget_tokens = *o.budget_tokens;
  if (o.budget_window) v.budget_window = *o.budget_window;
  if (o.allowed_models) v.allowed_models = *o.allowed_models;
  return v;
}

absl::StatusOr<std::unique_ptr<LimitStore>> LimitStore::Open(const std::string& path) {
  ASSIGN_OR_RETURN(auto db, sqlite::Db::Open(path, Migrations()));
  return std::unique_ptr<LimitStore>(new LimitStore(std::move(db)));
}

absl::StatusOr<std::map<std::string, LimitOverride>> LimitStore::Load() const {
  std::lock_guard lock(db_->mutex());
  ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT subject, json FROM limits ORDER BY subject"));
  std::map<std::string, LimitOverride> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out[st.Text(0)] = FromJson(st.Text(1));
  }
  return out;
}

absl::Status LimitStore::Put(const std::string& subject, const LimitOverride& o) {
  std::lock_guard lock(db_->mutex());
  ASSIGN_OR_RETURN(auto st,
                   db_->Prepare("INSERT INTO limits(subject, json) VALUES(?, ?) "
                                "ON CONFLICT(subject) DO UPDATE SET json = excluded.json"));
  st.Bind(1, subject).Bind(2, ToJson(o));
  return st.Run();
}

absl::Status LimitStore::Delete(const std::string& subject) {
  std::lock_guard lock(db_->mutex());
  ASSIGN_OR_RETURN(auto st, db_->Prepare("DELETE FROM limits WHERE subject = ?"));
  st.Bind(1, subject);
  RETURN_IF_ERROR(st.Run());
  if (db_->Changes() == 0)
    return absl::NotFoundError(absl::StrCat("no limit of its own for ", subject));
  return absl::OkStatus();
}

absl::Status LimitStore::ApplyTo(Limiter& limiter) const {
  ASSIGN_OR_RETURN(auto all, Load());
  for (const auto& [subject, o] : all) {
    if (subject == kDefaultSubject) {
      limiter.SetDefaults(Merge(limiter.defaults(), o));
    } else {
      limiter.SetOverride(subject, o);
    }
  }
  return absl::OkStatus();
}

}  // namespace clawos::proxy
