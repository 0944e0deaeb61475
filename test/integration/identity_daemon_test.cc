// Starts the real clawos-identity on a temp dir and unix socket and drives it
// through the CLI and gRPC: state across restarts, kill -9 during writes,
// wrong master keys, transport trust, health, reflection, metrics, OIDC.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include <grpcpp/create_channel.h>
#include "absl/strings/match.h"
#include "absl/time/clock.h"

#include "clawos/identity/v1/identity.grpc.pb.h"
#include "common/crypto/sha256.h"
#include "common/files.h"
#include "common/grpc_client.h"
#include "common/sqlite/db.h"
#include "common/tcp_socket.h"
#include "common/testing/eventually.h"
#include "common/testing/ports.h"
#include "common/testing/subprocess.h"
#include "common/testing/temp_dir.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "identity/schema.h"
#include "identity/testing/external_idp.h"
#include "test/integration/reflection_client.h"

namespace clawos {
namespace {

namespace pb = ::clawos::identity::v1;
using testing::Daemon;
using testing::RunCommand;
using testing::RunResult;

const std::string kBin = CLAWOS_BIN_DIR;

class IdentityDaemonTest : public ::testing::Test {
 protected:
  std::string state() const { return dir_.Sub("state"); }
  std::string sock() const { return dir_.Sub("id.sock"); }
  std::string addr() const { return "unix:" + sock(); }

  // Starts the daemon with extra flags/env; waits until it serves.
  std::unique_ptr<Daemon> Start(std::vector<std::string> extra = {},
                                std::map<std::string, std::string> env = {}) {
    std::vector<std::string> argv = {kBin + "/clawos-identity",
                                     "--state-dir",
                                     state(),
                                     "--listen",
                                     addr(),
                                     "--metrics-listen",
                                     ""};
    argv.insert(argv.end(), extra.begin(), extra.end());
    // The log is appended to across restarts: this start's lines come after `before`.
    size_t before = ReadFile(dir_.Sub("daemon.log")).value_or("").size();
    auto d = std::make_unique<Daemon>(argv, dir_.Sub("daemon.log"), env);
    // It answers before it logs "serving" (with the bound ports): wait for both.
    if (!d->WaitForFile(sock()) || !Healthy() || !d->WaitForLog("\"serving\"", before)) {
      ADD_FAILURE() << "daemon did not come up:\n" << d->Log();
    }
    return d;
  }

  // grpc.health.v1 says SERVING. A fresh channel per try: a channel that
  // failed its first connect would sit in reconnect backoff for seconds.
  bool Healthy() {
    for (int i = 0; i < 200; ++i) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      auto stub = grpc::health::v1::Health::NewStub(
          grpc::CreateCustomChannel(addr(), grpc::InsecureChannelCredentials(), args));
      grpc::health::v1::HealthCheckResponse resp;
      auto ctx = MakeClientContext(absl::Seconds(2));
      if (stub->Check(ctx.get(), {}, &resp).ok() &&
          resp.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
        return true;
      }
      usleep(25 * 1000);
    }
    return false;
  }

  RunResult Cli(std::vector<std::string> args, const std::string& in = "") {
    args.insert(args.begin(), {kBin + "/clawos", "--identity", addr()});
    return RunCommand(args, in);
  }

  std::unique_ptr<pb::IdentityService::Stub> Stub(const std::string& address = "") {
    return pb::IdentityService::NewStub(MakeChannel(address.empty() ? addr() : address).value());
  }

  clawos::testing::TempDir dir_;
};

TEST_F(IdentityDaemonTest, CliIssuesVerifiesAndRejects) {
  auto d = Start();
  RunResult issued =
      Cli({"token", "issue", "--subject", "agents/a1", "--audience", "proxy", "--ttl", "10m"});
  ASSERT_EQ(issued.exit_code, 0) << issued.err;
  std::string token = issued.out;
  EXPECT_EQ(std::count(token.begin(), token.end(), '.'), 2);

  RunResult ok = Cli({"token", "verify", "--audience", "proxy"}, token);
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("sub=agents/a1"), std::string::npos);

  RunResult wrong_aud = Cli({"token", "verify", "--audience", "controlplane"}, token);
  EXPECT_NE(wrong_aud.exit_code, 0);
  EXPECT_NE(wrong_aud.err.find("not for audience"), std::string::npos) << wrong_aud.err;

  std::string tampered = token;
  tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
  RunResult bad = Cli({"token", "verify", "--audience", "proxy"}, tampered);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("UNAUTHENTICATED"), std::string::npos) << bad.err;

  RunResult too_long = Cli({"token", "issue", "--subject", "a", "--audience", "b", "--ttl", "48h"});
  EXPECT_NE(too_long.exit_code, 0);
  EXPECT_NE(too_long.err.find("--max-ttl"), std::string::npos) << too_long.err;

  RunResult bad_ttl = Cli({"token", "issue", "--subject", "a", "--audience", "b", "--ttl", "soon"});
  EXPECT_EQ(bad_ttl.exit_code, 2) << "a flag error is a usage error";

  RunResult json =
      Cli({"-o", "json", "token", "issue", "--subject", "agents/a2", "--audience", "p"});
  ASSERT_EQ(json.exit_code, 0);
  auto j = nlohmann::json::parse(json.out);
  RunResult revoke = Cli({"token", "revoke", "--jti", j["jti"].get<std::string>()});
  EXPECT_EQ(revoke.exit_code, 0) << revoke.err;
  RunResult revoked = Cli({"token", "verify", "--audience", "p"}, j["token"].get<std::string>());
  EXPECT_NE(revoked.err.find("revoked"), std::string::npos) << revoked.err;
}

TEST_F(IdentityDaemonTest, CliSecretsReadValuesFromStdinOnly) {
  auto d = Start();
  EXPECT_EQ(Cli({"secret", "put", "openai"}, "sk-live-123\n").exit_code, 0);
  RunResult got = Cli({"secret", "get", "openai"});
  EXPECT_EQ(got.exit_code, 0);
  EXPECT_EQ(got.out, "sk-live-123") << "one trailing newline dropped, nothing added off a tty";
  RunResult list = Cli({"-o", "json", "secret", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  auto arr = nlohmann::json::parse(list.out);
  ASSERT_EQ(arr.size(), 1u);
  EXPECT_EQ(arr[0]["name"], "secrets/openai");
  EXPECT_EQ(list.out.find("sk-live"), std::string::npos) << "list never shows values";
  EXPECT_EQ(Cli({"secret", "delete", "openai"}).exit_code, 0);
  RunResult gone = Cli({"secret", "get", "openai"});
  EXPECT_NE(gone.err.find("NOT_FOUND"), std::string::npos) << gone.err;
  RunResult bad = Cli({"secret", "put", "../etc/passwd"}, "x");
  EXPECT_NE(bad.err.find("INVALID_ARGUMENT"), std::string::npos) << bad.err;
  EXPECT_EQ(d->Log().find("sk-live"), std::string::npos) << "secret values never reach logs";
}

TEST_F(IdentityDaemonTest, RestartKeepsKeysRevocationsAndSecrets) {
  std::string token, revoked, jwks;
  {
    auto d = Start();
    token = Cli({"token", "issue", "--subject", "agents/a", "--audience", "p"}).out;
    revoked = Cli({"token", "issue", "--subject", "agents/b", "--audience", "p"}).out;
    ASSERT_EQ(Cli({"token", "revoke", "--subject", "agents/b"}).exit_code, 0);
    ASSERT_EQ(Cli({"secret", "put", "k"}, "v1").exit_code, 0);
    std::string old_key = ReadFile(state() + "/master.key").value();
    RunResult rotated = Cli({"secret", "rotate-master-key"});
    ASSERT_EQ(rotated.exit_code, 0) << rotated.err;
    EXPECT_NE(rotated.out.find("re-sealed 2 records"), std::string::npos) << rotated.out;
    EXPECT_NE(ReadFile(state() + "/master.key").value(), old_key);
    jwks = Cli({"token", "jwks"}).out;
    EXPECT_EQ(d->Stop(SIGTERM), 0) << "graceful stop exits 0";
    EXPECT_FALSE(PathExists(sock())) << "socket removed on shutdown";
  }
  auto d = Start();
  EXPECT_EQ(Cli({"token", "verify", "--audience", "p"}, token).exit_code, 0);
  EXPECT_NE(Cli({"token", "verify", "--audience", "p"}, revoked).exit_code, 0);
  EXPECT_EQ(Cli({"secret", "get", "k"}).out, "v1") << "opened under the rotated key";
  EXPECT_EQ(Cli({"token", "jwks"}).out, jwks);
}

TEST_F(IdentityDaemonTest, KillNineDuringWritesLosesNoCommittedRecord) {
  auto d = Start();
  auto stub = Stub();
  std::atomic<bool> stop{false};
  std::vector<int> acked;  // the writer's, read once it is joined
  std::atomic<int> acked_count{0};
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) {
      pb::UpdateSecretRequest req;
      req.set_name("secrets/s" + std::to_string(i));
      req.set_value("value-" + std::to_string(i));
      req.set_allow_missing(true);
      pb::Secret resp;
      auto ctx = MakeClientContext(absl::Seconds(2));
      if (!stub->UpdateSecret(ctx.get(), req, &resp).ok()) break;
      acked.push_back(i);
      ++acked_count;
    }
  });
  // Kill it mid-stream, once a good number of writes are committed.
  EXPECT_TRUE(testing::Eventually([&] { return acked_count >= 20; }, absl::Seconds(30),
                                  absl::Milliseconds(10)));
  d->Stop(SIGKILL);
  stop = true;
  writer.join();
  ASSERT_GT(acked.size(), 5u) << "the writer should have committed something before the kill";

  // The database is intact and every acknowledged write is there.
  auto db = sqlite::Db::Open(state() + "/identity.db", identity::Migrations());
  ASSERT_TRUE(db.ok()) << db.status();
  auto check = (*db)->Prepare("PRAGMA integrity_check").value();
  ASSERT_TRUE(check.Step().value());
  EXPECT_EQ(check.Text(0), "ok");
  db->reset();

  auto again = Start();
  auto s2 = Stub();
  for (int i : acked) {
    pb::AccessSecretRequest req;
    req.set_name("secrets/s" + std::to_string(i));
    pb::AccessSecretResponse resp;
    auto ctx = MakeClientContext();
    auto st = s2->AccessSecret(ctx.get(), req, &resp);
    ASSERT_TRUE(st.ok()) << "acknowledged secret s" << i << " lost: " << st.error_message();
    EXPECT_EQ(resp.value(), "value-" + std::to_string(i));
  }
}

TEST_F(IdentityDaemonTest, WrongMasterKeyRefusesToStartAndChangesNothing) {
  const std::string key_a(64, 'a'), key_b(64, 'b');
  {
    auto d = Start({}, {{"CLAWOS_MASTER_KEY", key_a}});
    ASSERT_EQ(Cli({"secret", "put", "k"}, "v").exit_code, 0);
    d->Stop(SIGTERM);
  }
  auto before = crypto::Sha256File(state() + "/identity.db").value();
  RunResult r = RunCommand({kBin + "/clawos-identity", "--state-dir", state(), "--listen", addr(),
                            "--metrics-listen", ""},
                           "", {{"CLAWOS_MASTER_KEY", key_b}}, absl::Seconds(20));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("does not open"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(key_b), std::string::npos) << "the key never appears in output";
  EXPECT_EQ(crypto::Sha256File(state() + "/identity.db").value(), before);

  RunResult malformed = RunCommand({kBin + "/clawos-identity", "--state-dir", state(), "--listen",
                                    addr(), "--metrics-listen", ""},
                                   "", {{"CLAWOS_MASTER_KEY", "short"}}, absl::Seconds(20));
  EXPECT_NE(malformed.exit_code, 0);
  EXPECT_NE(malformed.err.find("64 hex"), std::string::npos) << malformed.err;

  auto d = Start({}, {{"CLAWOS_MASTER_KEY", key_a}});
  EXPECT_EQ(Cli({"secret", "get", "k"}).out, "v");
}

TEST_F(IdentityDaemonTest, OfflineMasterKeyRotation) {
  const std::string key_a(64, 'a'), key_b(64, 'c');
  {
    auto d = Start({}, {{"CLAWOS_MASTER_KEY", key_a}});
    ASSERT_EQ(Cli({"secret", "put", "k"}, "v").exit_code, 0);
    d->Stop(SIGTERM);
  }
  RunResult rot =
      RunCommand({kBin + "/clawos-identity", "--state-dir", state(), "rotate-master-key"}, "",
                 {{"CLAWOS_MASTER_KEY", key_a}, {"CLAWOS_NEW_MASTER_KEY", key_b}});
  ASSERT_EQ(rot.exit_code, 0) << rot.err;
  auto d = Start({}, {{"CLAWOS_MASTER_KEY", key_b}});
  EXPECT_EQ(Cli({"secret", "get", "k"}).out, "v");
}

TEST_F(IdentityDaemonTest, PlainTcpGetsOnlyPublicMethods) {
  auto d = Start({"--listen", "127.0.0.1:0"});
  // Find the TCP port from the "serving" log line.
  std::string log = d->Log();
  size_t at = log.find("127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << log;
  std::string tcp = log.substr(at, log.find('"', at) - at);
  auto stub = Stub(tcp);
  pb::IssueTokenRequest req;
  req.set_subject("a");
  req.set_audience("b");
  pb::IssueTokenResponse resp;
  auto ctx = MakeClientContext();
  auto st = stub->IssueToken(ctx.get(), req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  pb::AccessSecretRequest acc;
  acc.set_name("secrets/x");
  pb::AccessSecretResponse acc_resp;
  auto ctx2 = MakeClientContext();
  EXPECT_EQ(stub->AccessSecret(ctx2.get(), acc, &acc_resp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  pb::Jwks jwks;
  auto ctx3 = MakeClientContext();
  EXPECT_TRUE(stub->GetJwks(ctx3.get(), {}, &jwks).ok());
  EXPECT_EQ(jwks.keys_size(), 1);
}

TEST_F(IdentityDaemonTest, ReflectionHealthAndRequestIds) {
  auto d = Start();
  auto names = testing::ReflectionListServices(MakeChannel(addr()).value());
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_NE(std::find(names->begin(), names->end(), "clawos.identity.v1.IdentityService"),
            names->end());
  EXPECT_NE(std::find(names->begin(), names->end(), "grpc.health.v1.Health"), names->end());

  auto stub = Stub();
  grpc::ClientContext ctx;
  ctx.AddMetadata("x-request-id", "req-test-42");
  pb::VerifyTokenRequest req;
  req.set_token("garbage");
  req.set_audience("a");
  pb::VerifyTokenResponse resp;
  stub->VerifyToken(&ctx, req, &resp);
  auto md = ctx.GetServerInitialMetadata();
  auto it = md.find("x-request-id");
  ASSERT_NE(it, md.end());
  EXPECT_EQ(std::string(it->second.data(), it->second.size()), "req-test-42");
  EXPECT_NE(d->Log().find("\"request_id\":\"req-test-42\""), std::string::npos)
      << "the request id reaches the daemon's log lines";
}

TEST_F(IdentityDaemonTest, ServesPrometheusMetrics) {
  int port = testing::FreeLoopbackPort();
  auto d = Start({"--metrics-listen", "127.0.0.1:" + std::to_string(port)});
  Cli({"token", "jwks"});
  auto fd = ConnectTcp("127.0.0.1", port, absl::Seconds(10));
  ASSERT_TRUE(fd.ok()) << fd.status();
  int c = *fd;
  std::string req = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
  write(c, req.data(), req.size());
  std::string body;
  char buf[4096];
  ssize_t n;
  while ((n = read(c, buf, sizeof(buf))) > 0) body.append(buf, static_cast<size_t>(n));
  close(c);
  EXPECT_NE(body.find("process_resident_memory_bytes"), std::string::npos);
  EXPECT_NE(body.find("grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"/clawos.identity."
                      "v1.IdentityService/GetJwks\"} 1"),
            std::string::npos)
      << body.substr(0, 2000);
}

TEST_F(IdentityDaemonTest, OidcExchangeGivesTheAllowListedRole) {
  identity::testing::IdpKey idp("ES256", "idp-key");
  nlohmann::json jwks = {{"keys", nlohmann::json::array({idp.Jwk()})}};
  ASSERT_TRUE(WriteFileAtomic(dir_.Sub("idp-jwks.json"), jwks.dump(), 0600).ok());
  nlohmann::json cfg = {{"providers",
                         {{{"issuer", "https://idp.test"},
                           {"audience", "clawos"},
                           {"jwks_file", "idp-jwks.json"},
                           {"roles",
                            {{{"subject", "alice"}, {"role", "operator"}},
                             {{"email", "vic@idp.test"}, {"role", "viewer"}}}}}}}};
  ASSERT_TRUE(WriteFileAtomic(dir_.Sub("oidc.json"), cfg.dump(), 0600).ok());
  auto d = Start({"--oidc-config", dir_.Sub("oidc.json")});
  // A second daemon on the same state directory is refused.
  RunResult second = RunCommand({kBin + "/clawos-identity", "--state-dir", state(), "--listen",
                                 "unix:" + dir_.Sub("other.sock"), "--metrics-listen", "off"});
  EXPECT_NE(second.exit_code, 0);
  EXPECT_NE(second.err.find("held by another process"), std::string::npos) << second.err;
  RunResult rotate =
      RunCommand({kBin + "/clawos-identity", "--state-dir", state(), "rotate-master-key"});
  EXPECT_NE(rotate.exit_code, 0) << "offline rotation refuses a running daemon's state";
  int64_t now = time(nullptr);
  std::string id_token = idp.Sign({}, {{"iss", "https://idp.test"},
                                       {"aud", "clawos"},
                                       {"sub", "alice"},
                                       {"iat", now},
                                       {"exp", now + 300}});
  RunResult ex = Cli({"token", "exchange-oidc", "--ttl", "15m"}, id_token);
  ASSERT_EQ(ex.exit_code, 0) << ex.err;
  RunResult v = Cli({"-o", "json", "token", "verify", "--audience", "clawos-controlplane"}, ex.out);
  ASSERT_EQ(v.exit_code, 0) << v.err;
  auto claims = nlohmann::json::parse(v.out);
  EXPECT_EQ(claims["sub"], "oidc:alice");
  EXPECT_EQ(claims["role"], "operator");
  EXPECT_EQ(claims["idp"], "https://idp.test");
  std::string forged = id_token.substr(0, id_token.rfind('.') + 1) + "AAAA";
  EXPECT_NE(Cli({"token", "exchange-oidc"}, forged).exit_code, 0);

  // The allow-list decides: a verified email rule gives viewer; the same
  // email unverified, or a principal no rule names, gets nothing.
  auto token_for = [&](nlohmann::json extra) {
    nlohmann::json c = {{"iss", "https://idp.test"},
                        {"aud", "clawos"},
                        {"sub", "vic-id"},
                        {"iat", now},
                        {"exp", now + 300}};
    c.update(extra);
    return idp.Sign({}, c);
  };
  RunResult vic = Cli({"token", "exchange-oidc"},
                      token_for({{"email", "vic@idp.test"}, {"email_verified", true}}));
  ASSERT_EQ(vic.exit_code, 0) << vic.err;
  RunResult vv =
      Cli({"-o", "json", "token", "verify", "--audience", "clawos-controlplane"}, vic.out);
  ASSERT_EQ(vv.exit_code, 0) << vv.err;
  EXPECT_EQ(nlohmann::json::parse(vv.out)["role"], "viewer");
  for (const nlohmann::json& extra :
       {nlohmann::json{{"email", "vic@idp.test"}, {"email_verified", false}},
        nlohmann::json{{"email", "vic@idp.test"}}, nlohmann::json{{"sub", "mallory"}}}) {
    RunResult no = Cli({"token", "exchange-oidc"}, token_for(extra));
    EXPECT_NE(no.exit_code, 0) << extra.dump();
    EXPECT_NE(no.err.find("PERMISSION_DENIED"), std::string::npos) << no.err;
    EXPECT_NE(no.err.find("no ClawOS role"), std::string::npos) << no.err;
  }
}

// mTLS: over TCP with TLS and a verified client certificate, trusted methods
// work; without a client certificate the handshake is refused.
TEST_F(IdentityDaemonTest, MutualTlsMakesTcpTrusted) {
  auto ssl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "/usr/bin/openssl");
    RunResult r = RunCommand(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  };
  std::string d = dir_.path();
  ssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
       d + "/ca.key", "-out", d + "/ca.pem", "-days", "1", "-subj", "/CN=test-ca"});
  ASSERT_TRUE(WriteFileAtomic(d + "/server.ext", "subjectAltName=IP:127.0.0.1\n", 0600).ok());
  ASSERT_TRUE(WriteFileAtomic(d + "/client.ext", "extendedKeyUsage=clientAuth\n", 0600).ok());
  for (std::string who : {"server", "client"}) {
    ssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
         d + "/" + who + ".key", "-out", d + "/" + who + ".csr", "-subj", "/CN=" + who});
    ssl({"x509", "-req", "-in", d + "/" + who + ".csr", "-CA", d + "/ca.pem", "-CAkey",
         d + "/ca.key", "-CAcreateserial", "-out", d + "/" + who + ".pem", "-days", "1", "-extfile",
         d + "/" + who + ".ext"});
  }
  chmod((d + "/server.key").c_str(), 0600);

  auto daemon = Start({"--listen", "127.0.0.1:0", "--tls-cert", d + "/server.pem", "--tls-key",
                       d + "/server.key", "--tls-client-ca", d + "/ca.pem"});
  std::string log = daemon->Log();
  size_t at = log.find("127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << log;
  std::string tcp = log.substr(at, log.find('"', at) - at);

  ClientOptions with_cert{d + "/ca.pem", d + "/client.pem", d + "/client.key"};
  auto stub = pb::IdentityService::NewStub(MakeChannel(tcp, with_cert).value());
  pb::IssueTokenRequest req;
  req.set_subject("agents/tls");
  req.set_audience("p");
  pb::IssueTokenResponse resp;
  auto ctx = MakeClientContext(absl::Seconds(10));
  auto st = stub->IssueToken(ctx.get(), req, &resp);
  EXPECT_TRUE(st.ok()) << st.error_message();

  ClientOptions no_cert{d + "/ca.pem", "", ""};
  auto anon = pb::IdentityService::NewStub(MakeChannel(tcp, no_cert).value());
  pb::Jwks jwks;
  auto ctx2 = MakeClientContext(absl::Seconds(5));
  EXPECT_FALSE(anon->GetJwks(ctx2.get(), {}, &jwks).ok()) << "no client certificate, no service";

  auto plain = pb::IdentityService::NewStub(MakeChannel(tcp).value());
  auto ctx3 = MakeClientContext(absl::Seconds(5));
  EXPECT_FALSE(plain->GetJwks(ctx3.get(), {}, &jwks).ok()) << "plaintext to a TLS port fails";
}

// A full disk: writes fail with RESOURCE_EXHAUSTED and a message that says so;
// nothing acknowledged is lost and the daemon keeps serving.
TEST_F(IdentityDaemonTest, FullDiskIsAClearErrorAndLosesNothing) {
  std::string small = dir_.Sub("small");
  ASSERT_EQ(mkdir(small.c_str(), 0700), 0);
  if (geteuid() != 0 || mount("tmpfs", small.c_str(), "tmpfs", 0, "size=1m,mode=0700") != 0) {
    GTEST_SKIP() << "SKIPPED: needs root to mount a 1 MiB tmpfs as a full disk";
  }
  struct Unmount {
    std::string p;
    ~Unmount() { umount2(p.c_str(), MNT_DETACH); }
  } unmount{small};
  auto d = std::make_unique<Daemon>(
      std::vector<std::string>{kBin + "/clawos-identity", "--state-dir", small + "/state",
                               "--listen", addr(), "--metrics-listen", "off"},
      dir_.Sub("full.log"));
  ASSERT_TRUE(d->WaitForFile(sock()) && Healthy()) << d->Log();
  auto stub = Stub();
  std::string value(60 * 1024, 'v');
  int acked = 0;
  grpc::Status last;
  for (int i = 0; i < 100; ++i) {
    pb::UpdateSecretRequest req;
    req.set_name("secrets/s" + std::to_string(i));
    req.set_value(value + std::to_string(i));
    req.set_allow_missing(true);
    pb::Secret resp;
    auto ctx = MakeClientContext();
    last = stub->UpdateSecret(ctx.get(), req, &resp);
    if (!last.ok()) break;
    acked = i + 1;
  }
  ASSERT_FALSE(last.ok()) << "1 MiB cannot hold 100 x 60 KiB";
  EXPECT_EQ(last.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << last.error_message();
  EXPECT_NE(last.error_message().find("full"), std::string::npos) << last.error_message();
  ASSERT_GT(acked, 0);
  for (int i = 0; i < acked; ++i) {
    pb::AccessSecretRequest req;
    req.set_name("secrets/s" + std::to_string(i));
    pb::AccessSecretResponse resp;
    auto ctx = MakeClientContext();
    ASSERT_TRUE(stub->AccessSecret(ctx.get(), req, &resp).ok()) << "lost s" << i;
    EXPECT_EQ(resp.value(), value + std::to_string(i));
  }
  EXPECT_TRUE(Healthy());
  stub.reset();  // an open client connection stretches the graceful drain
  EXPECT_EQ(d->Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace clawos
