// `clawos up` / `clawos down`: the embedded default on one host, one state
// directory. Up builds and signs the default guest image when it is missing,
// then starts clawos-identity, clawos-inference-proxy, clawos-monitor,
// clawos-vm-launcher, clawos-controlplane and (when installed) nginx with TLS,
// each as a daemon of its own session, each waited for until it answers
// before the next one starts. Down stops the VMs, then the daemons in reverse
// order (SIGTERM, then SIGKILL after a grace period). Both are idempotent:
// what already runs is left running.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace clawos::cli {

struct StackOptions {
  std::string state_dir = "/var/lib/clawos";
  std::string bin_dir;  // the daemons' directory; empty: the clawos binary's own
  // Added to every TCP port (2080-2084, 9080-9084, 8080, 8443, 11435), so
  // that a second stack (tests) can run beside the default one.
  int port_offset = 0;
  // A prebuilt signed image and its public key; empty: <state>/images/agent,
  // built and signed (with <state>/image-key) when missing.
  std::string image_dir;
  std::string signing_pubkey;
  bool nginx = true;  // start nginx when it is installed
  bool monitor = true;
  absl::Duration ready_timeout = absl::Minutes(2);
  absl::Duration stop_grace = absl::Seconds(20);
};

struct Service {
  std::string name;    // "identity"
  std::string binary;  // path
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::function<absl::Status()> ready;  // OK once it answers
};

// Where the stack's pieces are for `options`.
struct StackPaths {
  std::string state, run, logs, image_dir, pubkey, tls, nginx;
  int port(int base) const { return base + offset; }
  int offset = 0;
  std::string Sock(const std::string& service, const std::string& file) const {
    return "unix:" + state + "/" + service + "/" + file;
  }
};
StackPaths PathsFor(const StackOptions& options);

// The services in start order. `every`: the monitor and nginx too, whether
// or not this user or host would start them (what `down` looks at).
std::vector<Service> StackServices(const StackOptions& options, bool every = false);

absl::Status StackUp(const StackOptions& options, std::ostream& out);
absl::Status StackDown(const StackOptions& options, std::ostream& out);

struct ServiceStatus {
  std::string name;
  pid_t pid = 0;  // 0: not running
};
std::vector<ServiceStatus> StackStatus(const StackOptions& options);

}  // namespace clawos::cli
