#include "vm-launcher/tunnel_request.h"

#include <gtest/gtest.h>

namespace clawos::launcher {
namespace {

apb::InferenceRequest Request() {
  apb::InferenceRequest r;
  r.set_request_id("rid-1");
  r.set_method("POST");
  r.set_path("/v1/chat/completions");
  return r;
}

void AddHeader(apb::InferenceRequest* r, const std::string& name, const std::string& value) {
  auto* h = r->add_headers();
  h->set_name(name);
  h->set_value(value);
}

TEST(TunnelRequestTest, HeadCarriesTheVmsTokenAndOnlyTheGuestsPlainHeaders) {
  auto r = Request();
  AddHeader(&r, "content-type", "application/json");
  AddHeader(&r, "Authorization", "Bearer stolen");
  AddHeader(&r, "X-ClawOS-VM", "someone-else");
  AddHeader(&r, "connection", "keep-alive");
  AddHeader(&r, "x-request-id", "other");
  AddHeader(&r, "x-tabbed", "a\tb");
  auto proxy = ParseProxyUrl("http://127.0.0.1:11435/base/");
  ASSERT_TRUE(proxy.ok());
  auto head = ProxyRequestHead(r, *proxy, "TOKEN", TunnelRequestId(r));
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(*head,
            "POST /base/v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:11435\r\n"
            "content-type: application/json\r\nx-tabbed: a\tb\r\n"
            "Authorization: Bearer TOKEN\r\nx-request-id: rid-1\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
}

// Found by tunnel_fuzz (seed regression_ctl_in_header_value): a control
// character other than CR/LF in a guest's header value went on to the proxy,
// making the head invalid HTTP.
TEST(TunnelRequestTest, HeaderValuesWithControlCharactersAreDropped) {
  auto r = Request();
  AddHeader(&r, "x-soh", std::string("a\x01") + "b");
  AddHeader(&r, "x-nul", std::string("a\0b", 3));
  AddHeader(&r, "x-del", "a\x7f");
  AddHeader(&r, "x-crlf", "a\r\nx-clawos-vm: evil");
  AddHeader(&r, "x-ok", "fine");
  auto head = ProxyRequestHead(r, {"proxy", 80, ""}, "T", "rid");
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(*head,
            "POST /v1/chat/completions HTTP/1.1\r\nHost: proxy:80\r\nx-ok: fine\r\n"
            "Authorization: Bearer T\r\nx-request-id: rid\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
}

TEST(TunnelRequestTest, BadRequestLinesAndNamesAreRefused) {
  auto r = Request();
  r.set_method("PO ST");
  EXPECT_EQ(CheckGuestRequest(r).code(), absl::StatusCode::kInvalidArgument);
  r = Request();
  r.set_path("/a b");
  EXPECT_EQ(CheckGuestRequest(r).code(), absl::StatusCode::kInvalidArgument);
  r = Request();
  AddHeader(&r, "bad name", "x");
  EXPECT_EQ(ProxyRequestHead(r, {"h", 1, ""}, "T", "r").status().code(),
            absl::StatusCode::kInvalidArgument);
  r = Request();
  r.set_request_id("../x");
  EXPECT_NE(TunnelRequestId(r), "../x");
}

apb::Frame Body(const std::string& data, bool eof) {
  apb::Frame f;
  f.mutable_inference_request_body()->set_data(data);
  f.mutable_inference_request_body()->set_eof(eof);
  return f;
}

TEST(TunnelRequestTest, BodyIsChunkedAndBounded) {
  TunnelBody body(10);
  EXPECT_EQ(body.Add(Body("hello", false)).value(), "5\r\nhello\r\n");
  apb::Frame ping;
  ping.mutable_ping()->set_nonce(1);
  EXPECT_EQ(body.Add(ping).value(), "");
  EXPECT_EQ(body.Add(Body("!", true)).value(), "1\r\n!\r\n0\r\n\r\n");
  EXPECT_TRUE(body.done());
  EXPECT_EQ(body.Add(Body("x", true)).status().code(), absl::StatusCode::kFailedPrecondition);

  TunnelBody small(4);
  EXPECT_EQ(small.Add(Body("hello", false)).status().code(), absl::StatusCode::kResourceExhausted);
  TunnelBody cancelled(4);
  apb::Frame cancel;
  cancel.mutable_cancel();
  EXPECT_EQ(cancelled.Add(cancel).status().code(), absl::StatusCode::kCancelled);
}

TEST(TunnelRequestTest, ProxyUrl) {
  auto a = ParseProxyUrl("http://localhost");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "localhost");
  EXPECT_EQ(a->port, 80);
  EXPECT_FALSE(ParseProxyUrl("https://x").ok());
  EXPECT_FALSE(ParseProxyUrl("http://x:0").ok());
  EXPECT_FALSE(ParseProxyUrl("http://:80").ok());
}

}  // namespace
}  // namespace clawos::launcher
