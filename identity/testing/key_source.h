// Test helper: the identity core itself (an IdentityManager in a temp dir)
// as RemoteVerifier's source of keys and revocations, without the network.
#pragma once

#include <nlohmann/json.hpp>

#include "common/crypto/encoding.h"
#include "identity/identity_manager.h"
#include "identity/remote_verifier.h"

namespace clawos::identity::testing {

class ManagerSource : public KeySource {
 public:
  explicit ManagerSource(IdentityManager& m) : m_(m) {}
  absl::StatusOr<KeySet> FetchKeys() override {
    ++key_fetches;
    KeySet out;
    nlohmann::json jwks = m_.signing_keys().Jwks();  // not a temporary: the loop holds a part
    for (const auto& k : jwks["keys"]) {
      auto raw = crypto::Base64UrlDecode(k["x"].get<std::string>()).value();
      crypto::Ed25519PublicKey key;
      std::copy(raw.begin(), raw.end(), key.begin());
      out.keys[k["kid"].get<std::string>()] = key;
    }
    return out;
  }
  absl::StatusOr<RevocationSet> FetchRevocations() override {
    RevocationSet out;
    for (const auto& r : m_.revocations().List(0, 10000)) {
      if (!r.jti.empty()) out.jtis.insert(r.jti);
      if (!r.subject.empty()) out.subjects[r.subject] = r.create_time;
    }
    return out;
  }
  int key_fetches = 0;

 private:
  IdentityManager& m_;
};

}  // namespace clawos::identity::testing
