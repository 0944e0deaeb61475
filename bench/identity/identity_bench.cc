// bench_identity: token issue+verify throughput through the real clawos-identity
// daemon over gRPC (unix socket), against raw OpenSSL Ed25519 sign+verify and the
// in-process library, all in the same run. Prints ops/s and the ratios.
//
//   build/bench/bench_identity [--n 3000] [--threads 2]
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "clawos/identity/v1/identity.grpc.pb.h"
#include "common/crypto/ed25519.h"
#include "common/crypto/encoding.h"
#include "common/grpc_client.h"
#include "common/log.h"
#include "common/testing/subprocess.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "identity/identity_manager.h"

namespace {

using namespace clawos;
namespace pb = ::clawos::identity::v1;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Raw OpenSSL: sign a JWT-sized message, verify it.
double RawOpenSsl(int n) {
  auto key = crypto::Ed25519PrivateKey::Generate().value();
  std::string msg(220, 'x');  // about the size of a token's signing input
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    msg[i % msg.size()] = static_cast<char>('a' + i % 26);
    auto sig = key.Sign(crypto::AsBytes(msg)).value();
    if (!crypto::Ed25519Verify(key.public_key(), crypto::AsBytes(msg), sig)) std::abort();
  }
  return n / Seconds(t0, Clock::now());
}

// The identity library in-process: JSON, base64url, claims, revocation lookups.
double InProcess(int n, const std::string& dir) {
  identity::IdentityConfig c;
  c.state_dir = dir + "/inproc";
  auto m = identity::IdentityManager::Open(c, RealClock::Get()).value();
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    auto t = m->Issue({"agents/bench", "clawos-inference-proxy", absl::Minutes(10)}).value();
    if (!m->Verify(t.token, "clawos-inference-proxy").ok()) std::abort();
  }
  return n / Seconds(t0, Clock::now());
}

// Through the daemon: one IssueToken and one VerifyToken RPC per op.
double ThroughGrpc(int n, int threads, const std::string& addr) {
  std::atomic<int> next{0};
  auto worker = [&] {
    auto stub = pb::IdentityService::NewStub(MakeChannel(addr).value());
    while (next.fetch_add(1) < n) {
      pb::IssueTokenRequest req;
      req.set_subject("agents/bench");
      req.set_audience("clawos-inference-proxy");
      pb::IssueTokenResponse issued;
      auto c1 = MakeClientContext();
      if (!stub->IssueToken(c1.get(), req, &issued).ok()) std::abort();
      pb::VerifyTokenRequest v;
      v.set_token(issued.token());
      v.set_audience("clawos-inference-proxy");
      pb::VerifyTokenResponse out;
      auto c2 = MakeClientContext();
      if (!stub->VerifyToken(c2.get(), v, &out).ok()) std::abort();
    }
  };
  auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  return n / Seconds(t0, Clock::now());
}

}  // namespace

int main(int argc, char** argv) {
  clawos::log::Init("bench_identity", "warn");  // no per-token info lines in-process
  int n = 3000, threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--n")) n = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
  }
  char tmpl[] = "/tmp/clawos_bench_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string sock = dir + "/id.sock";
  testing::Daemon daemon(
      {std::string(CLAWOS_BIN_DIR) + "/clawos-identity", "--state-dir", dir + "/state", "--listen",
       "unix:" + sock, "--metrics-listen", "", "--log-level", "warn"},
      dir + "/daemon.log");
  if (!daemon.WaitForFile(sock)) {
    std::fprintf(stderr, "daemon did not start:\n%s\n", daemon.Log().c_str());
    return 1;
  }
  std::string addr = "unix:" + sock;
  ThroughGrpc(200, 1, addr);  // warm-up: connections, first key load
  RawOpenSsl(200);

  // Three interleaved rounds, best of each: the cases see the same machine load.
  double raw = 0, lib = 0, grpc1 = 0, grpcN = 0;
  for (int round = 0; round < 3; ++round) {
    raw = std::max(raw, RawOpenSsl(n));
    lib = std::max(lib, InProcess(n, dir + "/r" + std::to_string(round)));
    grpc1 = std::max(grpc1, ThroughGrpc(n, 1, addr));
    grpcN = std::max(grpcN, ThroughGrpc(n, threads, addr));
  }
  daemon.Stop(SIGTERM);
  std::filesystem::remove_all(dir);

  std::printf("identity issue+verify, n=%d per case, best of 3 rounds (one op = sign+verify)\n", n);
  std::printf("  %-38s %10.0f ops/s  ratio 1.00 (baseline)\n", "raw OpenSSL Ed25519 sign+verify",
              raw);
  std::printf("  %-38s %10.0f ops/s  ratio %.2f\n", "in-process IdentityManager", lib, lib / raw);
  std::printf("  %-38s %10.0f ops/s  ratio %.2f\n", "gRPC unix socket, 1 client", grpc1,
              grpc1 / raw);
  char label[64];
  std::snprintf(label, sizeof(label), "gRPC unix socket, %d clients", threads);
  std::printf("  %-38s %10.0f ops/s  ratio %.2f\n", label, grpcN, grpcN / raw);
  return 0;
}
