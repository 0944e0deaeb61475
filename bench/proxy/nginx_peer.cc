#include "bench/proxy/nginx_peer.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "common/tcp_socket.h"
#include "common/testing/ports.h"

namespace clawos::bench {

std::string FindNginxBinary() {
  for (const char* p : {"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return "";
}

namespace {

std::string Config(const std::string& dir, int up, int front, const std::string& answer) {
  // nginx's `return` text is a quoted string: escape its quote and backslash.
  const std::string text = absl::StrReplaceAll(answer, {{"\\", "\\\\"}, {"'", "\\'"}});
  return absl::StrCat(
      "worker_processes auto;\n"
      "pid ",
      dir,
      "/nginx.pid;\n"
      "error_log ",
      dir,
      "/error.log warn;\n"
      "events { worker_connections 1024; }\n"
      "http {\n"
      "  access_log off;\n"
      "  client_body_temp_path ",
      dir,
      "/body;\n"
      "  proxy_temp_path ",
      dir,
      "/proxy;\n"
      "  fastcgi_temp_path ",
      dir,
      "/fastcgi;\n"
      "  uwsgi_temp_path ",
      dir,
      "/uwsgi;\n"
      "  scgi_temp_path ",
      dir,
      "/scgi;\n"
      "  keepalive_requests 1000000;\n"
      "  upstream canned { server 127.0.0.1:",
      up,
      "; keepalive 32; }\n"
      "  server {\n"
      "    listen 127.0.0.1:",
      up,
      ";\n"
      "    location / { default_type application/json; return 200 '",
      text,
      "'; }\n"
      "  }\n"
      "  server {\n"
      "    listen 127.0.0.1:",
      front,
      ";\n"
      "    location / {\n"
      "      proxy_pass http://canned;\n"
      "      proxy_http_version 1.1;\n"
      "      proxy_set_header Connection \"\";\n"
      "    }\n"
      "  }\n"
      "}\n");
}

bool Accepts(int port) {
  auto fd = ConnectTcp("127.0.0.1", port, absl::Seconds(1));
  if (!fd.ok()) return false;
  close(*fd);
  return true;
}

}  // namespace

absl::StatusOr<NginxPeer> StartNginx(const std::string& nginx, const std::string& dir,
                                     const std::string& answer) {
  std::filesystem::create_directories(dir);
  NginxPeer peer;
  peer.upstream_port = clawos::testing::FreeLoopbackPort();
  peer.front_port = clawos::testing::FreeLoopbackPort();
  while (peer.front_port == peer.upstream_port) {
    peer.front_port = clawos::testing::FreeLoopbackPort();
  }
  const std::string conf = dir + "/nginx.conf";
  std::ofstream(conf) << Config(dir, peer.upstream_port, peer.front_port, answer);
  peer.daemon = std::make_unique<clawos::testing::Daemon>(
      std::vector<std::string>{nginx, "-p", dir, "-c", conf, "-g", "daemon off;"},
      dir + "/nginx.log");
  for (int i = 0; i < 100; ++i) {
    if (Accepts(peer.upstream_port) && Accepts(peer.front_port)) return peer;
    if (!peer.daemon->Running()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::UnavailableError(absl::StrCat("nginx did not start: ", peer.daemon->Log()));
}

}  // namespace clawos::bench
