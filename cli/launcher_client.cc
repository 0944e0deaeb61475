#include "cli/launcher_client.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace clawos::cli {

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
