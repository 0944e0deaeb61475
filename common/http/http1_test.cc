#include "common/http/http1.h"

#include <gtest/gtest.h>

namespace clawos::http {
namespace {

TEST(Http1Test, RequestHeadInPieces) {
  std::string wire =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
      "X-Request-Id:  abc \r\n\r\nhello";
  Head h;
  size_t used = 0;
  std::string err;
  EXPECT_EQ(ParseRequestHead(wire.substr(0, 30), &h, &used, &err), Parse::kNeedMore);
  ASSERT_EQ(ParseRequestHead(wire, &h, &used, &err), Parse::kDone) << err;
  EXPECT_EQ(h.method, "POST");
  EXPECT_EQ(h.target, "/v1/chat/completions");
  EXPECT_EQ(h.Get("content-length"), "5");
  EXPECT_EQ(h.Get("x-request-id"), "abc");
  EXPECT_EQ(wire.substr(used), "hello");
}

TEST(Http1Test, MalformedAndOversizedHeadsAreErrors) {
  Head h;
  size_t used;
  std::string err;
  EXPECT_EQ(ParseRequestHead("GET nothing\r\n\r\n", &h, &used, &err), Parse::kError);
  EXPECT_EQ(ParseRequestHead("GET / HTTP/1.1\r\nno colon\r\n\r\n", &h, &used, &err), Parse::kError);
  EXPECT_EQ(ParseRequestHead(std::string(70000, 'a'), &h, &used, &err), Parse::kError);
  EXPECT_EQ(ParseResponseHead("HTTP/1.1 99x\r\n\r\n", &h, &used, &err), Parse::kError);
}

TEST(Http1Test, ResponseHeadAndChunkedBody) {
  Head h;
  size_t used;
  std::string err;
  ASSERT_EQ(ParseResponseHead("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\n\r\n", &h, &used,
                              &err),
            Parse::kDone);
  EXPECT_EQ(h.status, 429);
  EXPECT_EQ(h.reason, "Too Many Requests");
  ChunkedDecoder d;
  std::string body, wire = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n";
  for (char c : wire) ASSERT_TRUE(d.Feed(&c, 1, &body, &err)) << err;  // byte by byte
  EXPECT_TRUE(d.done());
  EXPECT_EQ(body, "hello world");
  ChunkedDecoder bad;
  EXPECT_FALSE(bad.Feed("zz\r\n", 4, &body, &err));
}

TEST(Http1Test, BareCrLfOrNulInAHeadIsAnError) {
  Head h;
  size_t used;
  std::string err;
  for (std::string bad : {std::string("GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n"),
                          std::string("GET / HTTP/1.1\r\nX-A: a\nInjected: 1\r\n\r\n"),
                          std::string("GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n", 28),
                          std::string("GET /a\nb HTTP/1.1\r\nHost: x\r\n\r\n"),
                          std::string("GET / HTTP/1.1\r\nHost: x\r\n\n\r\n\r\n")}) {
    err.clear();
    EXPECT_EQ(ParseRequestHead(bad, &h, &used, &err), Parse::kError) << bad;
    EXPECT_EQ(err, "a bare CR or LF, or a NUL, in the message head") << bad;
  }
  EXPECT_EQ(ParseResponseHead("HTTP/1.1 200 O\rK\r\n\r\n", &h, &used, &err), Parse::kError);
  EXPECT_EQ(ParseRequestHead("GET / HTTP/1.1\r\nX-A: a\tb\r\n\r\n", &h, &used, &err), Parse::kDone)
      << "a tab is fine: " << err;
  EXPECT_EQ(h.Get("x-a"), "a\tb");
}

TEST(Http1Test, ChunkSizeIsHexDigitsOnly) {
  for (std::string size : {"-1", "+5", "0x5", " 5", "5 ", "5 5", "", ";ext", "g",
                           "10000000000000000", "00000000000000005", "5;a\x01"}) {
    ChunkedDecoder d;
    std::string out, err, wire = size + "\r\nhello\r\n0\r\n\r\n";
    EXPECT_FALSE(d.Feed(wire.data(), wire.size(), &out, &err)) << "\"" << size << "\"";
    EXPECT_NE(err.find("malformed chunk size"), std::string::npos) << err;
    EXPECT_EQ(out, "");
  }
  for (std::string size : {"5", "05", "5;name=value", "5 ;x", "5\t; a=\"b c\""}) {
    ChunkedDecoder d;
    std::string out, err, wire = size + "\r\nhello\r\n0\r\n\r\n";
    EXPECT_TRUE(d.Feed(wire.data(), wire.size(), &out, &err)) << size << ": " << err;
    EXPECT_TRUE(d.done());
    EXPECT_EQ(out, "hello");
  }
  ChunkedDecoder big;  // 16 digits is the most: the largest size still parses
  std::string out, err, wire = "ffffffffffffffff\r\nab";
  EXPECT_TRUE(big.Feed(wire.data(), wire.size(), &out, &err)) << err;
  EXPECT_EQ(out, "ab");
}

TEST(Http1Test, HopByHopHeaders) {
  EXPECT_TRUE(IsHopByHop("Connection"));
  EXPECT_TRUE(IsHopByHop("transfer-encoding"));
  EXPECT_FALSE(IsHopByHop("Authorization"));
  EXPECT_FALSE(IsHopByHop("Content-Length"));
}

}  // namespace
}  // namespace clawos::http
