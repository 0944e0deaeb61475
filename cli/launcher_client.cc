#include "cli/launcher_client.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_client.h"
#include "common/grpc_status.h"

namespace clawos::cli {

absl::StatusOr<std::unique_ptr<lpb::LauncherService::Stub>> LauncherStub(const Context& ctx) {
  auto ch = MakeChannel(ctx.launcher_addr, ctx.tls);
  if (!ch.ok()) return ch.status();
  return lpb::LauncherService::NewStub(*ch);
}

absl::Status LauncherError(const Context& ctx, const grpc::Status& s) {
  absl::Status st = FromGrpcStatus(s);
  if (st.code() == absl::StatusCode::kUnavailable && !absl::StrContains(st.message(), "agent")) {
    return absl::UnavailableError(absl::StrCat(st.message(), " (is clawos-vm-launcher running at ",
                                               ctx.launcher_addr,
                                               "? set --launcher or CLAWOS_LAUNCHER_ADDR)"));
  }
  return st;
}

std::string VmName(const std::string& id) {
  return absl::StartsWith(id, "vms/") ? id : "vms/" + id;
}

std::string ImageName(const std::string& id) {
  return absl::StartsWith(id, "images/") ? id : "images/" + id;
}

std::string Age(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0) return "-";
  int64_t s = absl::ToUnixSeconds(absl::Now()) - t.seconds();
  if (s < 0) s = 0;
  if (s < 120) return absl::StrCat(s, "s");
  if (s < 7200) return absl::StrCat(s / 60, "m");
  if (s < 172800) return absl::StrCat(s / 3600, "h");
  return absl::StrCat(s / 86400, "d");
}

}  // namespace clawos::cli
