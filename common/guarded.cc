#include "common/guarded.h"

#include <exception>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace clawos {

bool RunGuarded(std::string_view what, const std::function<void()>& fn) noexcept {
  try {
    fn();
    return true;
  } catch (const std::exception& e) {
    try {
      log::Error("an exception escaped; the work is dropped, the daemon goes on",
                 {{"where", std::string(what)}, {"error", e.what()}});
    } catch (...) {
    }
  } catch (...) {
    try {
      log::Error("an exception escaped; the work is dropped, the daemon goes on",
                 {{"where", std::string(what)}, {"error", "not a std::exception"}});
    } catch (...) {
    }
  }
  return false;
}

absl::StatusOr<std::thread> StartThread(std::string what, std::function<void()> fn) {
  try {
    return std::thread([what = std::move(what), fn = std::move(fn)] { RunGuarded(what, fn); });
  } catch (const std::system_error& e) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot start a thread: ", e.what()));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("cannot start a thread: out of memory");
  }
}

}  // namespace clawos
