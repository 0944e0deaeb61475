#include "inference-proxy/provider_keys.h"

#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "clawos/identity/v1/identity.grpc.pb.h"
#include "common/grpc_client.h"
#include "common/grpc_status.h"
#include "common/status.h"

namespace clawos::proxy {

absl::StatusOr<std::string> LoadProviderKey(const std::string& env_name,
                                            const std::string& identity_addr,
                                            const std::string& secret_name) {
  if (char* v = std::getenv(env_name.c_str()); v && *v) {
    std::string key(v);
    std::memset(v, 0, std::strlen(v));
    ::unsetenv(env_name.c_str());
    return key;
  }
  ASSIGN_OR_RETURN(auto ch, MakeChannel(identity_addr, {}));
  auto stub = ::clawos::identity::v1::IdentityService::NewStub(ch);
  ::clawos::identity::v1::AccessSecretRequest req;
  req.set_name("secrets/" + secret_name);
  ::clawos::identity::v1::AccessSecretResponse resp;
  auto ctx = MakeClientContext(absl::Seconds(10));
  grpc::Status s = stub->AccessSecret(ctx.get(), req, &resp);
  if (!s.ok()) {
    return absl::NotFoundError(absl::StrCat("no ", secret_name, " key: set ", env_name,
                                            " or store it with `clawos secret put ", secret_name,
                                            "` (", s.error_message(), ")"));
  }
  return std::string(resp.value());
}

}  // namespace clawos::proxy
