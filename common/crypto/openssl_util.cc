#include "common/crypto/openssl_util.h"

#include <openssl/err.h>

#include "absl/strings/str_cat.h"

namespace clawos::crypto::internal {

absl::Status OpenSslError(std::string_view context) {
  unsigned long code = ERR_get_error();
  char buf[256] = "unknown OpenSSL error";
  if (code != 0) ERR_error_string_n(code, buf, sizeof(buf));
  ERR_clear_error();
  return absl::InternalError(
      absl::StrCat(std::string(context), ": ", static_cast<const char*>(buf)));
}

}  // namespace clawos::crypto::internal
