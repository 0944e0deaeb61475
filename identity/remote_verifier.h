// Who is calling a daemon: a JWT (an agent's at the proxy, an operator's at
// the control plane) verified locally — EdDSA against the identity service's
// JWKS, audience, expiry, revocation — with no call per request.
// Keys and revocations come from a KeySource (clawos-identity over gRPC in
// the daemon); keys are refetched when a token names an unknown kid (at most
// once a second), revocations every `refresh`. A token that verified is
// remembered (up to kMaxCachedTokens), so its signature is checked once: each
// later use still checks expiry, its key's presence and revocation.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/crypto/ed25519.h"
#include "identity/claims.h"
#include "identity/token_verifier.h"

namespace clawos::identity {

struct KeySet {
  std::map<std::string, crypto::Ed25519PublicKey> keys;  // by kid
};

struct RevocationSet {
  std::set<std::string> jtis;
  std::map<std::string, absl::Time> subjects;  // tokens issued at or before are revoked
};

class KeySource {
 public:
  virtual ~KeySource() = default;
  virtual absl::StatusOr<KeySet> FetchKeys() = 0;
  virtual absl::StatusOr<RevocationSet> FetchRevocations() = 0;
};

// clawos-identity: GetJwks (public) and ListRevocations (needs the trusted transport).
std::unique_ptr<KeySource> IdentityKeySource(const std::string& identity_addr);

class RemoteVerifier {
 public:
  static constexpr size_t kMaxCachedTokens = 8192;

  RemoteVerifier(std::unique_ptr<KeySource> source, VerifierConfig config, std::string audience,
                 const Clock& clock, absl::Duration refresh = absl::Seconds(5));
  ~RemoteVerifier();

  // Fetches keys and revocations now; an error leaves the last good ones.
  absl::Status Refresh();
  // Starts refreshing revocations (and keys) every `refresh` on a thread.
  void StartRefresh();
  // UNAUTHENTICATED with the reason, or the token's claims.
  absl::StatusOr<Claims> Verify(std::string_view token);

 private:
  std::optional<crypto::Ed25519PublicKey> FindKey(const std::string& kid);
  // The claims of a token verified before and still good; nullopt otherwise.
  std::optional<Claims> Cached(std::string_view token);
  std::unique_ptr<KeySource> source_;
  std::string audience_;
  const Clock& clock_;
  absl::Duration refresh_;
  absl::Duration leeway_;
  TokenVerifier verifier_;
  std::mutex mu_;
  KeySet keys_;
  RevocationSet revoked_;
  absl::Time last_key_fetch_ = absl::InfinitePast();
  std::unordered_map<std::string, Claims> verified_;  // by token
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace clawos::identity
