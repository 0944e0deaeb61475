// nginx for bench_proxy: one nginx (its own prefix in a scratch directory,
// `worker_processes auto`, access log off) serving two ports on loopback:
//   - an upstream that answers every request with `return 200` and a canned
//     chat completion (usage included);
//   - a bare `proxy_pass` in front of it (HTTP/1.1, keep-alive upstream pool):
//     the baseline a proxy doing real work is compared with.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/testing/subprocess.h"

namespace clawos::bench {

struct NginxPeer {
  std::unique_ptr<clawos::testing::Daemon> daemon;
  int upstream_port = 0;
  int front_port = 0;
};

// The nginx binary, or "" when it is not installed.
std::string FindNginxBinary();

// Starts nginx in `dir` (created) answering `answer` (a JSON document) on the
// upstream port; waits until both ports accept connections.
absl::StatusOr<NginxPeer> StartNginx(const std::string& nginx, const std::string& dir,
                                     const std::string& answer);

}  // namespace clawos::bench
