#include "identity/remote_verifier.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "clawos/identity/v1/identity.grpc.pb.h"
#include "common/crypto/encoding.h"
#include "common/grpc_client.h"
#include "common/grpc_status.h"
#include "common/grpc_util.h"
#include "common/status.h"

namespace clawos::identity {
namespace {

namespace ipb = ::clawos::identity::v1;

class IdentitySource : public KeySource {
 public:
  explicit IdentitySource(std::string addr) : addr_(std::move(addr)) {}

  absl::StatusOr<KeySet> FetchKeys() override {
    ASSIGN_OR_RETURN(auto ch, MakeChannel(addr_, {}));
    auto stub = ipb::IdentityService::NewStub(ch);
    ipb::GetJwksRequest req;
    ipb::Jwks resp;
    auto ctx = MakeClientContext(absl::Seconds(5));
    grpc::Status s = stub->GetJwks(ctx.get(), req, &resp);
    if (!s.ok()) return FromGrpcStatus(s);
    KeySet out;
    for (const auto& k : resp.keys()) {
      if (k.kty() != "OKP" || k.crv() != "Ed25519") continue;
      auto raw = crypto::Base64UrlDecode(k.x());
      if (!raw.ok() || raw->size() != 32) continue;
      crypto::Ed25519PublicKey key;
      std::copy(raw->begin(), raw->end(), key.begin());
      out.keys.emplace(k.kid(), key);
    }
    return out;
  }

  absl::StatusOr<RevocationSet> FetchRevocations() override {
    ASSIGN_OR_RETURN(auto ch, MakeChannel(addr_, {}));
    auto stub = ipb::IdentityService::NewStub(ch);
    RevocationSet out;
    std::string token;
    do {
      ipb::ListRevocationsRequest req;
      req.set_page_size(1000);
      req.set_page_token(token);
      ipb::ListRevocationsResponse resp;
      auto ctx = MakeClientContext(absl::Seconds(5));
      grpc::Status s = stub->ListRevocations(ctx.get(), req, &resp);
      if (!s.ok()) return FromGrpcStatus(s);
      for (const auto& r : resp.revocations()) {
        if (!r.jti().empty()) out.jtis.insert(r.jti());
        if (!r.subject().empty()) out.subjects[r.subject()] = FromProtoTime(r.create_time());
      }
      token = resp.next_page_token();
    } while (!token.empty());
    return out;
  }

 private:
  std::string addr_;
};

}  // namespace

std::unique_ptr<KeySource> IdentityKeySource(const std::string& identity_addr) {
  return std::make_unique<IdentitySource>(identity_addr);
}

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
