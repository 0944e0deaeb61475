#include "cli/stack_nginx.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/process.h"

namespace clawos::cli {

const std::string& NginxTemplate() {
  static const std::string kText =
#include "nginx_conf.inc"
      ;
  return kText;
}

std::string FindNginx() {
  for (const char* p : {"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"}) {
    if (access(p, X_OK) == 0) return p;
  }
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "", ':', absl::SkipEmpty())) {
    std::string p = absl::StrCat(dir, "/nginx");
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

absl::Status EnsureTlsCert(const std::string& dir) {
  if (PathExists(dir + "/clawos.crt") && PathExists(dir + "/clawos.key")) return absl::OkStatus();
  if (auto s = EnsurePrivateDir(dir); !s.ok()) return s;
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  std::string san = absl::StrCat("subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:", host);
  auto r = RunChecked({"openssl",
                       "req",
                       "-x509",
                       "-newkey",
                       "ec",
                       "-pkeyopt",
                       "ec_paramgen_curve:P-256",
                       "-nodes",
                       "-days",
                       "825",
                       "-subj",
                       "/CN=localhost/O=ClawOS",
                       "-addext",
                       san,
                       "-addext",
                       "extendedKeyUsage=serverAuth",
                       "-keyout",
                       dir + "/clawos.key.new",
                       "-out",
                       dir + "/clawos.crt.new"});
  if (!r.ok()) return r.status();
  if (chmod((dir + "/clawos.key.new").c_str(), 0600) != 0 ||
      chmod((dir + "/clawos.crt.new").c_str(), 0644) != 0 ||
      rename((dir + "/clawos.key.new").c_str(), (dir + "/clawos.key").c_str()) != 0 ||
      rename((dir + "/clawos.crt.new").c_str(), (dir + "/clawos.crt").c_str()) != 0) {
    return ErrnoStatus(errno, "installing the TLS certificate in " + dir);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RenderNginx(const StackPaths& p) {
  std::string conf = NginxTemplate();
  const std::vector<std::pair<std::string, std::string>> edits = {
      {"listen 443 ssl http2;", absl::StrCat("listen 127.0.0.1:", p.port(8443), " ssl http2;")},
      {"listen 80;", absl::StrCat("listen 127.0.0.1:", p.port(8081), ";")},
      {"return 301 https://$host$request_uri;",
       absl::StrCat("return 301 https://$host:", p.port(8443), "$request_uri;")},
      {"/etc/clawos/tls/", p.tls + "/"},
      {"server 127.0.0.1:8080;", absl::StrCat("server 127.0.0.1:", p.port(8080), ";")},
  };
  for (const auto& [from, to] : edits) {
    if (conf.find(from) == std::string::npos) {
      return absl::InternalError(
          absl::StrCat("the nginx template has no \"", from, "\" (deploy/nginx/clawos.conf)"));
    }
    conf = absl::StrReplaceAll(conf, {{from, to}});
  }
  if (auto s = EnsurePrivateDir(p.nginx); !s.ok()) return s;
  if (auto s = MakeDirs(p.nginx + "/tmp", 0700); !s.ok()) return s;
  std::string main_conf = absl::StrCat(
      "# Written by `clawos up` from deploy/nginx/clawos.conf; changes are overwritten.\n",
      "worker_processes 1;\n", "pid ", p.nginx, "/nginx.pid;\n", "error_log stderr warn;\n",
      "events { worker_connections 256; }\n", "http {\n", "  access_log ", p.logs,
      "/nginx-access.log;\n", "  client_body_temp_path ", p.nginx, "/tmp/body;\n",
      "  proxy_temp_path ", p.nginx, "/tmp/proxy;\n", "  fastcgi_temp_path ", p.nginx,
      "/tmp/fastcgi;\n", "  uwsgi_temp_path ", p.nginx, "/tmp/uwsgi;\n", "  scgi_temp_path ",
      p.nginx, "/tmp/scgi;\n",
      "  # Workers are unprivileged: keep bodies in memory, not in the root-owned temp dir.\n",
      "  client_body_buffer_size 1m;\n", "  proxy_max_temp_file_size 0;\n", "  include ", p.nginx,
      "/clawos.conf;\n", "}\n");
  if (auto s = WriteFileAtomic(p.nginx + "/clawos.conf", conf, 0600); !s.ok()) return s;
  if (auto s = WriteFileAtomic(p.nginx + "/nginx.conf", main_conf, 0600); !s.ok()) return s;
  return p.nginx + "/nginx.conf";
}

}  // namespace clawos::cli
