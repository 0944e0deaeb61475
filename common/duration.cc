#include "common/duration.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace clawos {

absl::StatusOr<absl::Duration> ParseDuration(std::string_view text) {
  std::string s(text);
  absl::Duration extra = absl::ZeroDuration();
  // Leading "<N>d" days, then the rest in absl syntax.
  size_t d = s.find('d');
  if (d != std::string::npos) {
    int64_t days = 0;
    if (!absl::SimpleAtoi(s.substr(0, d), &days) || days < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid duration \"", std::string(text), "\""));
    }
    extra = absl::Hours(24 * days);
    s = s.substr(d + 1);
    if (s.empty()) return extra;
  }
  absl::Duration out;
  if (s.empty() || !absl::ParseDuration(s, &out)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid duration \"", std::string(text),
                                                   "\" (use e.g. 90s, 10m, 1h30m, 7d)"));
  }
  if (out < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("negative duration \"", std::string(text), "\""));
  }
  if (out == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("infinite duration \"", std::string(text), "\""));
  }
  return out + extra;
}

std::string FormatDuration(absl::Duration d) { return absl::FormatDuration(d); }

}  // namespace clawos
