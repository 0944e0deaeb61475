// The nginx TLS front of `clawos up`: a self-signed certificate in
// <state>/tls (made with openssl once) and deploy/nginx/clawos.conf (embedded
// at build time) rendered into <state>/nginx for the stack's ports and paths.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "cli/stack.h"

namespace clawos::cli {

// /usr/sbin/nginx (or nginx in PATH), or "" when not installed.
std::string FindNginx();
absl::Status EnsureTlsCert(const std::string& dir);
// Writes <nginx>/nginx.conf and <nginx>/clawos.conf; returns the main file.
absl::StatusOr<std::string> RenderNginx(const StackPaths& paths);
// The template's text (deploy/nginx/clawos.conf).
const std::string& NginxTemplate();

}  // namespace clawos::cli
