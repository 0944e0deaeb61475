#include "common/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "common/testing/temp_dir.h"

namespace clawos {
namespace {

struct Parsed {
  DaemonOptions daemon;
  std::string issuer = "default-issuer";
  absl::Duration ttl = absl::Minutes(10);
  std::optional<int> rc;
};

Parsed Parse(std::vector<std::string> args) {
  Parsed p;
  CLI::App app{"test"};
  AddConfigFileFlag(app);
  AddDaemonFlags(app, &p.daemon, "CLAWOS_TEST");
  app.add_option("--issuer", p.issuer)->envname("CLAWOS_TEST_ISSUER");
  AddDurationFlag(app, "--ttl", &p.ttl, "CLAWOS_TEST_TTL", "ttl");
  args.insert(args.begin(), "prog");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  p.rc = ParseFlags(app, static_cast<int>(argv.size()), argv.data());
  return p;
}

TEST(ConfigTest, PrecedenceFlagsOverEnvOverTomlOverDefaults) {
  clawos::testing::TempDir dir;
  std::string toml = dir.Sub("c.toml");
  std::ofstream(toml) << "issuer = \"from-toml\"\nttl = \"30m\"\nlog-level = \"warn\"\n";
  unsetenv("CLAWOS_TEST_ISSUER");
  unsetenv("CLAWOS_TEST_TTL");

  Parsed defaults = Parse({});
  EXPECT_FALSE(defaults.rc);
  EXPECT_EQ(defaults.issuer, "default-issuer");

  Parsed from_toml = Parse({"--config", toml});
  EXPECT_EQ(from_toml.issuer, "from-toml");
  EXPECT_EQ(from_toml.ttl, absl::Minutes(30));
  EXPECT_EQ(from_toml.daemon.log_level, "warn");

  setenv("CLAWOS_TEST_ISSUER", "from-env", 1);
  Parsed from_env = Parse({"--config", toml});
  EXPECT_EQ(from_env.issuer, "from-env");
  EXPECT_EQ(from_env.ttl, absl::Minutes(30));

  Parsed from_flag = Parse({"--config", toml, "--issuer", "from-flag", "--ttl", "1h"});
  EXPECT_EQ(from_flag.issuer, "from-flag");
  EXPECT_EQ(from_flag.ttl, absl::Hours(1));
  unsetenv("CLAWOS_TEST_ISSUER");
}

TEST(ConfigTest, ListenIsRepeatableAndCommaSeparatedInEnv) {
  setenv("CLAWOS_TEST_LISTEN", "unix:/a.sock,127.0.0.1:1", 1);
  Parsed p = Parse({});
  EXPECT_EQ(p.daemon.server.listen, (std::vector<std::string>{"unix:/a.sock", "127.0.0.1:1"}));
  unsetenv("CLAWOS_TEST_LISTEN");
  Parsed q = Parse({"--listen", "unix:/x", "--listen", "h:2"});
  EXPECT_EQ(q.daemon.server.listen.size(), 2u);
}

TEST(ConfigTest, SocketModeIsOwnerOnlyUnlessTheGroupIsAsked) {
  EXPECT_EQ(Parse({}).daemon.server.socket_mode, 0600u);
  Parsed group = Parse({"--socket-mode", "0660"});
  EXPECT_FALSE(group.rc.has_value());
  EXPECT_EQ(group.daemon.server.socket_mode, 0660u);
  EXPECT_EQ(Parse({"--socket-mode", "0666"}).rc, 2);  // never world-writable
  EXPECT_EQ(Parse({"--socket-mode", "660"}).rc, 2);
}

TEST(ConfigTest, BadValuesAreUsageErrors) {
  EXPECT_EQ(Parse({"--ttl", "soon"}).rc, 2);
  EXPECT_EQ(Parse({"--log-level", "loud"}).rc, 2);
  EXPECT_EQ(Parse({"--no-such-flag"}).rc, 2);
  EXPECT_EQ(Parse({"--help"}).rc, 0);
}

}  // namespace
}  // namespace clawos

namespace clawos {
namespace {

TEST(ConfigFileTest, UnknownKeysAndBadValuesAreErrors) {
  clawos::testing::TempDir dir;
  std::ofstream(dir.Sub("unknown.toml")) << "no-such = 1\n";
  EXPECT_EQ(Parse({"--config", dir.Sub("unknown.toml")}).rc, 2);
  std::ofstream(dir.Sub("bad.toml")) << "ttl = \"soon\"\n";
  EXPECT_EQ(Parse({"--config", dir.Sub("bad.toml")}).rc, 2);
  EXPECT_EQ(Parse({"--config", dir.Sub("missing.toml")}).rc, 2);
}

}  // namespace
}  // namespace clawos
