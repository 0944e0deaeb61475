#include "identity/remote_verifier.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"

namespace clawos::identity {

RemoteVerifier::RemoteVerifier(std::unique_ptr<KeySource> source, VerifierConfig config,
                               std::string audience, const Clock& clock, absl::Duration refresh)
    : source_(std::move(source)),
      audience_(std::move(audience)),
      clock_(clock),
      refresh_(refresh),
      leeway_(config.leeway),
      verifier_(config,
                {[this](const std::string& kid) { return FindKey(kid); },
                 [this](const std::string& jti) {
                   std::lock_guard lock(mu_);
                   return revoked_.jtis.count(jti) > 0;
                 },
                 [this](const std::string& subject, absl::Time issued_at) {
                   std::lock_guard lock(mu_);
                   auto it = revoked_.subjects.find(subject);
                   return it != revoked_.subjects.end() && issued_at <= it->second;
                 }},
                clock) {}

RemoteVerifier::~RemoteVerifier() {
  {
    std::lock_guard lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

absl::Status RemoteVerifier::Refresh() {
  auto keys = source_->FetchKeys();
  auto revoked = source_->FetchRevocations();
  std::lock_guard lock(mu_);
  if (keys.ok()) {
    keys_ = std::move(*keys);
    last_key_fetch_ = clock_.Now();
  }
  if (revoked.ok()) revoked_ = std::move(*revoked);
  if (!keys.ok()) return Annotate(keys.status(), "fetching the identity JWKS");
  if (!revoked.ok()) return Annotate(revoked.status(), "fetching revocations");
  return absl::OkStatus();
}

void RemoteVerifier::StartRefresh() {
  thread_ = std::thread([this] {
    std::unique_lock lock(stop_mu_);
    auto every = std::chrono::milliseconds(absl::ToInt64Milliseconds(refresh_));
    while (!stop_cv_.wait_for(lock, every, [this] { return stop_; })) {
      lock.unlock();
      Refresh().IgnoreError();  // the last good keys and revocations stay in force
      lock.lock();
    }
  });
}

std::optional<crypto::Ed25519PublicKey> RemoteVerifier::FindKey(const std::string& kid) {
  {
    std::lock_guard lock(mu_);
    if (auto it = keys_.keys.find(kid); it != keys_.keys.end()) return it->second;
    if (clock_.Now() - last_key_fetch_ < absl::Seconds(1)) return std::nullopt;
    last_key_fetch_ = clock_.Now();  // one refetch a second at most, however many callers
  }
  auto keys = source_->FetchKeys();  // a rotated key: fetch once and look again
  std::lock_guard lock(mu_);
  if (keys.ok()) keys_ = std::move(*keys);
  if (auto it = keys_.keys.find(kid); it != keys_.keys.end()) return it->second;
  return std::nullopt;
}

absl::StatusOr<Claims> RemoteVerifier::Verify(std::string_view token) {
  if (token.empty()) return absl::UnauthenticatedError("no agent token (Authorization: Bearer)");
  if (auto claims = Cached(token)) return *claims;
  auto claims = verifier_.Verify(token, audience_);  // and the reason when it fails
  if (claims.ok()) {
    std::lock_guard lock(mu_);
    if (verified_.size() >= kMaxCachedTokens) verified_.clear();
    verified_.emplace(std::string(token), *claims);
  }
  return claims;
}

std::optional<Claims> RemoteVerifier::Cached(std::string_view token) {
  std::lock_guard lock(mu_);
  auto it = verified_.find(std::string(token));
  if (it == verified_.end()) return std::nullopt;
  const Claims& c = it->second;
  auto revoked_subject = revoked_.subjects.find(c.subject);
  bool good = clock_.Now() <= c.expires_at + leeway_ && keys_.keys.count(c.kid) > 0 &&
              revoked_.jtis.count(c.jti) == 0 &&
              (revoked_subject == revoked_.subjects.end() || c.issued_at > revoked_subject->second);
  if (!good) {
    verified_.erase(it);  // the full check says why
    return std::nullopt;
  }
  return c;
}

}  // namespace clawos::identity
