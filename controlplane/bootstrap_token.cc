#include "controlplane/bootstrap_token.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/crypto/encoding.h"
#include "common/files.h"
#include "common/grpc_client.h"
#include "common/grpc_status.h"
#include "controlplane/operator_auth.h"

namespace clawos::controlplane {
namespace {

// iat and exp of a compact JWS (not verified: it is our own file).
bool StillGood(const std::string& token) {
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) return false;
  auto payload = crypto::Base64UrlDecode(parts[1]);
  if (!payload.ok()) return false;
  auto j = nlohmann::json::parse(payload->begin(), payload->end(), nullptr, false);
  if (!j.is_object() || !j.contains("exp") || !j.contains("iat") || !j["exp"].is_number_integer() ||
      !j["iat"].is_number_integer()) {
    return false;
  }
  int64_t iat = j["iat"].get<int64_t>(), exp = j["exp"].get<int64_t>();
  int64_t now = absl::ToUnixSeconds(absl::Now());
  return now < exp - (exp - iat) / 2;
}

}  // namespace

absl::StatusOr<bool> EnsureAdminToken(identity::v1::IdentityService::Stub& identity,
                                      const std::string& path, absl::Duration ttl) {
  if (auto old = ReadFile(path); old.ok()) {
    std::string t = *old;
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
    if (StillGood(t)) return false;
  }
  identity::v1::IssueTokenRequest req;
  req.set_subject(kBootstrapSubject);
  req.set_audience(kAudience);
  req.set_role("admin");
  req.mutable_ttl()->set_seconds(absl::ToInt64Seconds(ttl));
  identity::v1::IssueTokenResponse resp;
  absl::Status s = CallStub(identity, &identity::v1::IdentityService::Stub::IssueToken, req, &resp,
                            absl::Seconds(10));
  if (!s.ok()) {
    return absl::Status(s.code(), absl::StrCat("issuing the bootstrap admin token: ", s.message()));
  }
  if (auto w = WriteFileAtomic(path, resp.token() + "\n", 0600); !w.ok()) return w;
  return true;
}

}  // namespace clawos::controlplane
