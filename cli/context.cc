#include "cli/context.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <iterator>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/terminal_text.h"
#include "common/files.h"
#include "common/proto_json.h"

namespace clawos::cli {
namespace {

std::string HomeDir() {
  if (const char* h = std::getenv("HOME"); h && *h) return h;
  if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir) return pw->pw_dir;
  return "";
}

// The token in `raw` (surrounding whitespace dropped): one word of printable ASCII.
absl::StatusOr<std::string> CleanToken(const std::string& raw, const std::string& source) {
  std::string t(absl::StripAsciiWhitespace(raw));
  if (t.empty()) return absl::FailedPreconditionError(absl::StrCat(source, " is empty"));
  for (char c : t) {
    if (c <= ' ' || c > '~') {
      return absl::FailedPreconditionError(absl::StrCat(
          source, " does not hold one token (it has whitespace or control characters inside)"));
    }
  }
  return t;
}

absl::StatusOr<FoundToken> FromFile(const std::string& path) {
  auto raw = ReadFile(path);
  if (!raw.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read the operator token: ", raw.status().message()));
  }
  auto t = CleanToken(*raw, path);
  if (!t.ok()) return t.status();
  return FoundToken{*std::move(t), path};
}

}  // namespace

TokenPlaces DefaultTokenPlaces(const Context& ctx) {
  TokenPlaces p;
  if (const char* t = std::getenv("CLAWOS_TOKEN")) p.env_token = t;
  p.token_file = ctx.token_file;
  std::string home = HomeDir();
  if (!home.empty()) p.user_file = home + "/.config/clawos/token";
  p.admin_file = kHostAdminTokenFile;
  return p;
}

absl::StatusOr<FoundToken> FindToken(const TokenPlaces& p) {
  if (!absl::StripAsciiWhitespace(p.env_token).empty()) {
    auto t = CleanToken(p.env_token, "CLAWOS_TOKEN");
    if (!t.ok()) return t.status();
    return FoundToken{*std::move(t), "CLAWOS_TOKEN"};
  }
  if (!p.token_file.empty()) return FromFile(p.token_file);
  if (!p.user_file.empty() && PathExists(p.user_file)) {
    struct stat st {};
    if (::stat(p.user_file.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "refusing the operator token in %s: it has mode %04o, so others may read it; make it "
          "yours alone with `chmod 600 %s`",
          p.user_file, st.st_mode & 07777, p.user_file));
    }
    return FromFile(p.user_file);
  }
  if (!p.admin_file.empty() && ::access(p.admin_file.c_str(), R_OK) == 0) {
    auto t = FromFile(p.admin_file);
    if (t.ok()) return t;
  }
  return absl::UnauthenticatedError(absl::StrCat(
      "no operator token for clawos-controlplane: set CLAWOS_TOKEN, give --token-file FILE "
      "(or CLAWOS_TOKEN_FILE), put it in ",
      p.user_file.empty() ? "~/.config/clawos/token" : p.user_file,
      " (mode 0600), or run as root on the control plane's host (",
      p.admin_file.empty() ? kHostAdminTokenFile : p.admin_file,
      "); --direct (CLAWOS_DIRECT=1) talks to the daemons without one"));
}

int ReportError(const std::string& what, const absl::Status& s) {
  // The message may carry a guest's words (a failure reason, a file error).
  std::cerr << "clawos: " << what << ": " << absl::StatusCodeToString(s.code()) << ": "
            << TerminalSafe(std::string(s.message())) << "\n";
  return 1;
}

std::string ToJson(const google::protobuf::Message& m) {
  return JsonTerminalSafe(clawos::ToJson(m, {.pretty = true}));
}

void PrintJson(const nlohmann::json& j) {
  std::cout << JsonTerminalSafe(j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace))
            << "\n";
}

std::string ReadStdin() {
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

}  // namespace clawos::cli
