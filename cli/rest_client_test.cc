// The pure parts of the CLI's REST client: SSE and NDJSON parsing however the
// stream is cut, error bodies → absl::Status, and the operator token lookup.
#include "cli/rest_client.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "clawos/launcher/v1/launcher.pb.h"
#include "cli/context.h"
#include "common/files.h"
#include "common/testing/temp_dir.h"

namespace clawos::cli {
namespace {

TEST(RestClientTest, ErrorBodiesBecomeTheirStatus) {
  absl::Status s =
      StatusFromErrorBody(500, R"({"code":14,"message":"launcher went away","details":[]})");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "launcher went away");
}

TEST(LineSplitterTest, SplitsNdjsonAcrossChunkBoundaries) {
  const std::string stream =
      "{\"started\":{\"pid\":12}}\n"
      "{\"stdout_chunk\":\"aGVsbG8K\"}\r\n"
      "{\"exit\":{\"exit_code\":3}}\n"
      "{\"error\":{\"code\":4,\"message\":\"deadline\",\"details\":[]}}";
  for (size_t cut = 1; cut <= stream.size(); ++cut) {
    SCOPED_TRACE(cut);
    LineSplitter s;
    std::vector<std::string> lines;
    for (size_t i = 0; i < stream.size(); i += cut) {
      for (auto& l : s.Feed(stream.substr(i, cut))) lines.push_back(std::move(l));
    }
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[0], R"({"started":{"pid":12}})");
    EXPECT_EQ(lines[1], R"({"stdout_chunk":"aGVsbG8K"})");
    EXPECT_EQ(lines[2], R"({"exit":{"exit_code":3}})");
    EXPECT_EQ(s.TakeRest(), R"({"error":{"code":4,"message":"deadline","details":[]}})");
    EXPECT_EQ(s.TakeRest(), "");
  }
  ::clawos::launcher::v1::ExecVmResponse m;
  ASSERT_TRUE(ParseProtoJson(R"({"stdout_chunk":"aGVsbG8K"})", &m).ok());
  EXPECT_EQ(m.stdout_chunk(), "hello\n");
}

TEST(ErrorBodyTest, MapsTheApiErrorBodyToItsCode) {
  absl::Status s =
      StatusFromErrorBody(404, R"({"code":5,"message":"vms/nope does not exist","details":[]})");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "vms/nope does not exist");
  // The body's code wins over the HTTP status (400 is also FAILED_PRECONDITION).
  s = StatusFromErrorBody(400, R"({"code":9,"message":"vms/a is RUNNING"})");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  s = StatusFromErrorBody(401, R"({"code":16,"message":"no bearer token"})");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
}

TEST(ErrorBodyTest, FallsBackToTheHttpStatus) {
  absl::Status s = StatusFromErrorBody(502, "<html>Bad Gateway</html>\n");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "HTTP 502: <html>Bad Gateway</html> ");
  s = StatusFromErrorBody(404, "");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "HTTP 404 without a body");
  // Not a status code: code 0 (OK) and out of range.
  EXPECT_EQ(StatusFromErrorBody(503, R"({"code":0,"message":"x"})").code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusFromErrorBody(500, R"({"code":99,"message":"x"})").code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(StatusFromErrorBody(418, "teapot").code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(StatusFromErrorBody(200, "{}").code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(CodeForHttpStatus(429), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(CodeForHttpStatus(504), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(CodeForHttpStatus(204), absl::StatusCode::kOk);
}

TEST(RestClientTest, ParsesLeniently) {
  ::clawos::launcher::v1::Vm vm;
  ASSERT_TRUE(
      ParseProtoJson(R"({"name":"vms/a","state":"RUNNING","field_from_the_future":1})", &vm).ok());
  EXPECT_EQ(vm.state(), ::clawos::launcher::v1::Vm::RUNNING);
  absl::Status bad = ParseProtoJson("not json", &vm);
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("not a valid Vm"), std::string_view::npos);
}

TEST(RestClientTest, EncodesUrlParts) {
  EXPECT_EQ(UrlEncode("web-1_a.b~"), "web-1_a.b~");
  EXPECT_EQ(UrlEncode("state=RUNNING AND labels.team=x/y"),
            "state%3DRUNNING%20AND%20labels.team%3Dx%2Fy");
  EXPECT_EQ(ResourcePath("vms", "vms/web"), "/v1/vms/web");
  EXPECT_EQ(ResourcePath("workflows", "a b"), "/v1/workflows/a%20b");
  EXPECT_EQ(ResourcePath("workflows", "vms/x"), "/v1/workflows/vms%2Fx") << "only its own prefix";
  EXPECT_EQ(Query({{"page_size", PageSize(0)}, {"filter", "state=RUNNING"}, {"page_token", ""}}),
            "?filter=state%3DRUNNING");
  EXPECT_EQ(Query({{"page_size", PageSize(5)}, {"page_token", "t"}}), "?page_size=5&page_token=t");
  EXPECT_EQ(Query({}), "");
}

TEST(RestClientTest, RejectsBadUrls) {
  EXPECT_FALSE(RestClient::Make("ftp://x", "", "t", "test").ok());
  auto plain_ca = RestClient::Make("http://127.0.0.1:1", "/ca.pem", "t", "test");
  ASSERT_FALSE(plain_ca.ok());
  EXPECT_NE(plain_ca.status().message().find("--cacert"), std::string_view::npos);
  auto ok = RestClient::Make("http://127.0.0.1:8080/", "", "t", "test");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)->url(), "http://127.0.0.1:8080");
}

TEST(CancellerTest, CancelBeforeTheCallStartsAbortsItWhenItDoes) {
  Canceller c;
  EXPECT_FALSE(c.WaitStarted(absl::Milliseconds(1)));
  c.Cancel();
  bool aborted = false;
  c.Set([&] { aborted = true; });
  EXPECT_TRUE(aborted);
  EXPECT_TRUE(c.cancelled());
  EXPECT_TRUE(c.WaitStarted(absl::Milliseconds(1)));
  c.Set(nullptr);
  c.Cancel();  // no call left: nothing to do
}

class TokenTest : public ::testing::Test {
 protected:
  void Write(const std::string& path, const std::string& text, mode_t mode) {
    ASSERT_TRUE(WriteFileAtomic(path, text, mode).ok());
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
  }
  TokenPlaces Places() {
    TokenPlaces p;
    p.user_file = dir_.Sub("user.token");
    p.admin_file = dir_.Sub("admin.token");
    return p;
  }
  testing::TempDir dir_;
};

TEST_F(TokenTest, TakesTheFirstPlaceThatHasOne) {
  TokenPlaces p = Places();
  Write(p.user_file, "user-token\n", 0600);
  Write(p.admin_file, "admin-token\n", 0600);
  Write(dir_.Sub("flag.token"), "  flag-token\r\n", 0644);
  p.token_file = dir_.Sub("flag.token");
  p.env_token = "env-token\n";
  auto t = FindToken(p);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->token, "env-token");
  EXPECT_EQ(t->source, "CLAWOS_TOKEN");
  p.env_token = "  ";
  t = FindToken(p);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->token, "flag-token");
  EXPECT_EQ(t->source, p.token_file);
  p.token_file.clear();
  t = FindToken(p);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->token, "user-token");
  ASSERT_EQ(::unlink(p.user_file.c_str()), 0);
  t = FindToken(p);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->token, "admin-token");
  EXPECT_EQ(t->source, p.admin_file);
}

TEST_F(TokenTest, RefusesAUserTokenFileOthersMayRead) {
  TokenPlaces p = Places();
  Write(p.user_file, "user-token\n", 0644);
  Write(p.admin_file, "admin-token\n", 0600);
  auto t = FindToken(p);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(t.status().message().find("chmod 600 " + p.user_file), std::string_view::npos)
      << t.status();
  Write(p.user_file, "user-token\n", 0640);
  EXPECT_FALSE(FindToken(p).ok());
  Write(p.user_file, "user-token\n", 0400);
  t = FindToken(p);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->token, "user-token");
}

TEST_F(TokenTest, ExplainsWhereItLookedWhenThereIsNone) {
  TokenPlaces p = Places();
  auto t = FindToken(p);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kUnauthenticated);
  for (const std::string& place : {std::string("CLAWOS_TOKEN"), std::string("--token-file"),
                                   p.user_file, p.admin_file, std::string("--direct")}) {
    EXPECT_NE(t.status().message().find(place), std::string_view::npos) << place;
  }
  if (geteuid() != 0) {  // root reads any file
    Write(p.admin_file, "admin-token\n", 0000);
    EXPECT_EQ(FindToken(p).status().code(), absl::StatusCode::kUnauthenticated);
  }
}

TEST_F(TokenTest, RejectsBadTokenFiles) {
  TokenPlaces p = Places();
  p.token_file = dir_.Sub("missing");
  Write(p.admin_file, "admin-token\n", 0600);
  auto t = FindToken(p);  // a file given on purpose is not skipped
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find(p.token_file), std::string_view::npos) << t.status();
  Write(dir_.Sub("empty"), "\n", 0600);
  p.token_file = dir_.Sub("empty");
  EXPECT_FALSE(FindToken(p).ok());
  Write(dir_.Sub("two"), "one two\n", 0600);
  p.token_file = dir_.Sub("two");
  EXPECT_FALSE(FindToken(p).ok());
  p.token_file.clear();
  p.env_token = "a\nb";
  EXPECT_FALSE(FindToken(p).ok());
}

}  // namespace
}  // namespace clawos::cli
