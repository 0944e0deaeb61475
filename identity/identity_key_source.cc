// IdentityKeySource (remote_verifier.h): clawos-identity over gRPC, apart
// from the verifier so that the verifier links without gRPC.
#include <algorithm>

#include "clawos/identity/v1/identity.grpc.pb.h"
#include "common/crypto/encoding.h"
#include "common/grpc_client.h"
#include "common/grpc_status.h"
#include "common/grpc_util.h"
#include "common/status.h"
#include "identity/remote_verifier.h"

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

}  // namespace clawos::identity
