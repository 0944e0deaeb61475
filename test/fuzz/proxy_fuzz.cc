// libFuzzer target for the inference proxy's whole request path:
// inference-proxy/handler.h's ProxyHandler, with its real verifier (a real
// Ed25519 key and tokens made here), limiter, SQLite ledger (on tmpfs) and
// metrics, calling one of two in-process stand-in upstreams on 127.0.0.1
// whose answers come from the input too: a real clawos::http::Server, or a
// raw socket that writes the input's bytes as they are.
//
// Input: byte 0 picks the mode, the rest is
//   METHOD SP TARGET "\n" *(NAME ": " VALUE "\n") "\n" BODY
//   [ "\n=====\n" UPSTREAM ]
// the client's request (headers the HTTP server would refuse are left out),
// then what the upstream answers. UPSTREAM for the http::Server is
//   STATUS "\n" *(NAME ": " VALUE "\n") "\n" BODY
// (BODY written in pieces cut at each \x01 byte, streamed when there is more
// than one piece or the type is text/event-stream); for the raw socket it is
// the bytes on the wire, again sent in pieces cut at \x01.
// Mode bits: 0-1 the caller: an agent's token in Authorization: Bearer, the
//   same in x-api-key, another subject's token, or only the input's headers;
//   2: the raw upstream; 3-4 the client: stays, refuses the head, goes away
//   after the first piece of body, after 1 KiB; 5-6 the limits: none, a
//   budget of 2000 tokens, one request a minute already used, 100k tokens a
//   minute with 99k used; 7: only the OpenAI upstream is configured.
//
// An exception out of Handle is a crash. Properties checked (abort):
// - one head, before any body, at most one end, nothing after it;
// - an answer the proxy makes itself (it has no header of the upstream's) is
//   one of its statuses with content-type JSON, a safe x-request-id, and a
//   body that is valid UTF-8 JSON in the provider's error shape; a 429 says
//   when to retry;
// - the upstream gets the provider's key, never the caller's token nor an
//   x-clawos-* header, a safe x-request-id and a valid UTF-8 JSON body;
// - a ledger row only for a verified caller, at most one per request, its vm
//   from the token's subject only, tokens within 0..2^40; none for an
//   anonymous caller; a valid agent token on a served route always has one;
// - the limiter's counts for the subject stay within 0..2^40 past what was
//   there, and hold at most one more request.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <prometheus/registry.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/clock.h"
#include "common/crypto/ed25519.h"
#include "common/crypto/encoding.h"
#include "common/http/http1.h"
#include "common/http/server.h"
#include "common/json.h"
#include "common/utf8.h"
#include "identity/jws.h"
#include "identity/remote_verifier.h"
#include "inference-proxy/handler.h"
#include "test/fuzz/require.h"
#include "test/fuzz/scratch_dir.h"

namespace {

using namespace clawos;
using namespace clawos::proxy;
using nlohmann::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr char kIssuer[] = "clawos-identity";
constexpr char kAudience[] = "clawos-inference-proxy";
constexpr char kOpenAiKey[] = "sk-openai-fuzz";
constexpr char kAnthropicKey[] = "sk-ant-fuzz";
constexpr char kMarker[] = "x-stand-in";  // on every answer an upstream makes

using clawos::fuzz::Require;

ManualClock& Clock() {
  static auto* c = new ManualClock(absl::FromUnixSeconds(1'800'000'000));
  return *c;
}

const crypto::Ed25519PrivateKey& Key() {
  static auto* k = new crypto::Ed25519PrivateKey(
      crypto::Ed25519PrivateKey::FromSeed(std::vector<uint8_t>(32, 16)).value());
  return *k;
}

std::string MakeToken(const std::string& subject, const std::string& role) {
  int64_t now = absl::ToUnixSeconds(Clock().Now());
  json header = {{"alg", "EdDSA"}, {"typ", "JWT"}, {"kid", "k1"}};
  json payload = {{"iss", kIssuer},     {"sub", subject}, {"aud", kAudience},
                  {"iat", now},         {"nbf", now},     {"exp", now + 400'000'000},
                  {"jti", "j-" + role}, {"role", role}};
  std::string input = identity::SigningInput(header, payload);
  auto sig = Key().Sign(crypto::AsBytes(input)).value();
  return identity::CompactJws(input, std::vector<uint8_t>(sig.begin(), sig.end()));
}

const std::string& AgentToken() {
  static auto* t = new std::string(MakeToken("agents/vm-1", "agent"));
  return *t;
}
const std::string& OtherToken() {
  static auto* t = new std::string(MakeToken("operators/alice", "operator"));
  return *t;
}

class FixedKeys : public identity::KeySource {
 public:
  absl::StatusOr<identity::KeySet> FetchKeys() override {
    identity::KeySet s;
    s.keys.emplace("k1", Key().public_key());
    return s;
  }
  absl::StatusOr<identity::RevocationSet> FetchRevocations() override {
    return identity::RevocationSet{};
  }
};

identity::RemoteVerifier& Verifier() {
  static auto* v = [] {
    identity::VerifierConfig config;
    config.issuer = kIssuer;
    auto* r =
        new identity::RemoteVerifier(std::make_unique<FixedKeys>(), config, kAudience, Clock());
    Require(r->Refresh().ok());
    return r;
  }();
  return *v;
}

// ---- What the upstream should answer, and what it saw ----

struct Script {
  bool raw = false;
  int status = 200;
  Headers headers;
  std::vector<std::string> pieces;
};

std::mutex g_mu;
Script g_script;
int g_upstream_calls = 0;

Script CurrentScript() {
  std::lock_guard lock(g_mu);
  ++g_upstream_calls;
  return g_script;
}

// What every request the proxy sends upstream must be.
void CheckUpstreamRequest(const std::string& method, const Headers& headers,
                          const std::string& body) {
  bool key = false;
  for (const auto& [k, v] : headers) {
    Require(!absl::StartsWithIgnoreCase(k, "x-clawos-"));
    Require(!absl::StrContains(v, AgentToken()) && !absl::StrContains(v, OtherToken()));
    if (http::EqualsIgnoreCase(k, "authorization"))
      key = key || v == std::string("Bearer ") + kOpenAiKey;
    if (http::EqualsIgnoreCase(k, "x-api-key")) key = key || v == kAnthropicKey;
    if (http::EqualsIgnoreCase(k, "x-request-id")) Require(http::IsSafeRequestId(v));
  }
  Require(key);
  if (method == "POST") {
    Require(IsValidUtf8(body));
    Require(!json::parse(body, nullptr, false).is_discarded());
  }
}

class StandIn : public http::RequestHandler {
 public:
  void Handle(const http::Request& req, http::ResponseSink& sink) override {
    CheckUpstreamRequest(req.method, req.headers, req.body);
    Script s = CurrentScript();
    Headers h = s.headers;
    h.emplace_back(kMarker, "1");
    bool streamed = s.pieces.size() > 1;
    for (const auto& [k, v] : h) {
      streamed = streamed || (http::EqualsIgnoreCase(k, "content-type") &&
                              absl::StrContains(v, "event-stream"));
    }
    if (!sink.Head(s.status, h, streamed)) return;
    for (const auto& p : s.pieces) {
      if (!sink.Body(p)) return;
    }
    sink.End();
  }
};

int Listen(int* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  Require(fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
          ::listen(fd, 64) == 0 && ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  *port = ntohs(a.sin_port);
  return fd;
}

// Reads one request (head, then a Content-Length body) from `fd`.
bool ReadRequest(int fd, http::Head* head, std::string* body) {
  std::string buf, error;
  size_t used = 0;
  char tmp[16384];
  for (;;) {
    http::Parse p = http::ParseRequestHead(buf, head, &used, &error);
    if (p == http::Parse::kError) return false;
    if (p == http::Parse::kDone) break;
    ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
    if (n <= 0) return false;
    buf.append(tmp, static_cast<size_t>(n));
  }
  size_t want = 0;
  if (!absl::SimpleAtoi(head->Get("content-length"), &want)) want = 0;
  *body = buf.substr(used);
  while (body->size() < want) {
    ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
    if (n <= 0) return false;
    body->append(tmp, static_cast<size_t>(n));
  }
  return true;
}

// The raw upstream: each connection's request is read, then the script's
// bytes (the marker header after the first line) go out as they are.
void RawUpstream(int listener) {
  for (;;) {
    int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    http::Head head;
    std::string body;
    if (ReadRequest(fd, &head, &body)) {
      CheckUpstreamRequest(head.method, head.headers, body);
      Script s = CurrentScript();
      bool marked = false;
      for (std::string p : s.pieces) {
        if (size_t nl = p.find('\n'); !marked && nl != std::string::npos) {
          p.insert(nl + 1, std::string(kMarker) + ": 1\r\n");
          marked = true;
        }
        if (::send(fd, p.data(), p.size(), MSG_NOSIGNAL) < 0) break;
      }
      ::shutdown(fd, SHUT_WR);
    }
    ::close(fd);
  }
}

struct Upstreams {
  std::unique_ptr<http::Server> server;  // serves for the whole run
  std::shared_ptr<http::ClientPool> server_pool, raw_pool;
};

std::shared_ptr<http::ClientPool> PoolFor(int port) {
  auto url = http::ParseUrl(absl::StrCat("http://127.0.0.1:", port));
  Require(url.ok());
  return std::make_shared<http::ClientPool>(*url);
}

const Upstreams& GetUpstreams() {
  static const Upstreams* u = [] {
    auto* out = new Upstreams;
    static StandIn handler;
    http::ServerOptions o;
    o.io_timeout = o.request_timeout = o.idle_timeout = absl::Seconds(5);
    auto server = http::Server::Start(o, handler);
    Require(server.ok());
    out->server = *std::move(server);
    out->server_pool = PoolFor(out->server->port());
    int raw_port = 0;
    int listener = Listen(&raw_port);
    out->raw_pool = PoolFor(raw_port);
    std::thread(RawUpstream, listener).detach();
    return out;
  }();
  return *u;
}

// ---- The ledger, shared by every input (rows are found by their time) ----

struct Books {
  std::string dir;
  std::unique_ptr<Ledger> ledger;
  std::unique_ptr<LedgerWriter> writer;
  prometheus::Registry registry;
  std::unique_ptr<ProxyMetrics> metrics;
};

Books& GetBooks() {
  static Books* b = [] {
    auto* out = new Books;
    out->dir = fuzz::ScratchDir("proxy_fuzz");
    auto l = Ledger::Open(out->dir + "/ledger.db");
    Require(l.ok());
    out->ledger = *std::move(l);
    out->writer = std::make_unique<LedgerWriter>(*out->ledger);
    out->metrics = std::make_unique<ProxyMetrics>(out->registry);
    std::atexit([] { fuzz::RemoveScratch(GetBooks().dir); });
    return out;
  }();
  return *b;
}

// ---- The input ----

struct Input {
  int auth = 0, client = 0, limits = 0;
  bool raw = false, openai_only = false;
  http::Request request;
  Script upstream;
};

// NAME ": " VALUE lines up to an empty one, as the HTTP server would pass
// them: token names, no CR, LF or NUL in values.
Headers ParseHeaders(std::string_view* rest) {
  Headers out;
  while (!rest->empty()) {
    size_t nl = rest->find('\n');
    std::string_view line = rest->substr(0, nl);
    rest->remove_prefix(nl == std::string_view::npos ? rest->size() : nl + 1);
    if (line.empty()) break;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name(line.substr(0, colon));
    std::string value(absl::StripAsciiWhitespace(std::string(line.substr(colon + 1))));
    if (!http::IsToken(name) || value.find_first_of(std::string("\r\0", 2)) != std::string::npos)
      continue;
    out.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

Script ParseUpstream(std::string_view s, bool raw) {
  Script out;
  out.raw = raw;
  if (!raw) {
    size_t nl = s.find('\n');
    int status = 200;
    if (!absl::SimpleAtoi(std::string(s.substr(0, nl)), &status) || status < 200 || status > 599 ||
        status == 204 || status == 205 || status == 304) {
      status = 200;
    }
    out.status = status;
    s.remove_prefix(nl == std::string_view::npos ? s.size() : nl + 1);
    for (auto& [k, v] : ParseHeaders(&s)) {
      // The server frames the answer itself.
      if (http::IsHopByHop(k) || http::EqualsIgnoreCase(k, "content-length") ||
          absl::StartsWithIgnoreCase(k, kMarker)) {
        continue;
      }
      out.headers.emplace_back(k, v);
    }
  }
  for (absl::string_view p : absl::StrSplit(std::string(s), '\x01')) out.pieces.emplace_back(p);
  return out;
}

std::optional<Input> ParseInput(const uint8_t* data, size_t size) {
  if (size == 0) return std::nullopt;
  Input in;
  in.auth = data[0] & 3;
  in.raw = data[0] & 4;
  in.client = (data[0] >> 3) & 3;
  in.limits = (data[0] >> 5) & 3;
  in.openai_only = data[0] & 0x80;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string_view upstream;
  if (size_t cut = rest.find("\n=====\n"); cut != std::string_view::npos) {
    upstream = rest.substr(cut + 7);
    rest = rest.substr(0, cut);
  }
  size_t nl = rest.find('\n');
  std::string_view line = rest.substr(0, nl);
  rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
  size_t sp = line.find(' ');
  if (sp == std::string_view::npos) return std::nullopt;
  in.request.method = std::string(line.substr(0, sp));
  in.request.target = std::string(line.substr(sp + 1));
  if (!http::IsToken(in.request.method) || in.request.target.empty()) return std::nullopt;
  for (char c : in.request.target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return std::nullopt;
  }
  Headers own = ParseHeaders(&rest);
  if (in.auth == 0) in.request.headers.emplace_back("authorization", "Bearer " + AgentToken());
  if (in.auth == 1) in.request.headers.emplace_back("x-api-key", AgentToken());
  if (in.auth == 2) in.request.headers.emplace_back("Authorization", "bearer " + OtherToken());
  in.request.headers.insert(in.request.headers.end(), own.begin(), own.end());
  in.request.body = std::string(rest);
  in.upstream = ParseUpstream(upstream, in.raw);
  return in;
}

// ---- The client's end ----

class Sink : public http::ResponseSink {
 public:
  explicit Sink(int mode) : mode_(mode) {}
  bool Head(int status, const Headers& headers, bool streamed) override {
    Require(heads_ == 0 && !ended_);
    ++heads_;
    status_ = status;
    headers_ = headers;
    streamed_ = streamed;
    return mode_ != 1;
  }
  bool Body(const std::string& data) override {
    Require(heads_ == 1 && !ended_);
    body_ += data;
    ++pieces_;
    if (mode_ == 2) return false;
    return !(mode_ == 3 && body_.size() > 1024);
  }
  bool End() override {
    Require(heads_ == 1 && !ended_);
    ended_ = true;
    return true;
  }

  int heads_ = 0, status_ = 0, pieces_ = 0, mode_;
  bool ended_ = false, streamed_ = false;
  Headers headers_;
  std::string body_;
};

bool Has(const Headers& h, const std::string& name) {
  for (const auto& [k, v] : h) {
    if (http::EqualsIgnoreCase(k, name)) return true;
  }
  return false;
}

// An answer the proxy made itself: its statuses, its headers, its error shape.
void CheckOwnAnswer(const Sink& s) {
  static const int kOwn[] = {400, 401, 404, 429, 502, 503, 504};
  Require(std::find(std::begin(kOwn), std::end(kOwn), s.status_) != std::end(kOwn));
  Require(!s.streamed_);
  Require(http::FindHeader(s.headers_, "content-type") == "application/json");
  Require(http::IsSafeRequestId(http::FindHeader(s.headers_, "x-request-id")));
  if (s.status_ == 429) {
    int64_t retry = 0;
    Require(absl::SimpleAtoi(http::FindHeader(s.headers_, "retry-after"), &retry) && retry >= 1);
  }
  if (s.mode_ == 1) return;  // the head was refused: no body follows
  Require(s.ended_ && IsValidUtf8(s.body_));
  json j = json::parse(s.body_, nullptr, false);
  Require(j.is_object());
  const json* e = clawos::json::Member(j, "error");
  Require(e && e->is_object() && clawos::json::String(*e, "message").has_value() &&
          clawos::json::String(*e, "type").has_value());
}

void CheckRows(const Input& in, const Sink& s, absl::Time since, bool own, bool served_route) {
  Books& b = GetBooks();
  b.writer->Flush();
  auto rows = b.ledger->Recent("", since, 10);
  Require(rows.ok() && rows->size() <= 1);
  if (in.auth == 3) Require(rows->empty());  // no token of ours: nobody to book
  if (own && s.status_ == 401) Require(rows->empty());
  if (in.auth == 0 && served_route) Require(rows->size() == 1);
  for (const LedgerRow& r : *rows) {
    Require(r.subject == "agents/vm-1" || r.subject == "operators/alice");
    Require(r.vm == (r.subject == "agents/vm-1" ? "vm-1" : ""));
    Require(r.outcome != Outcome::kUnauthenticated);
    Require(r.prompt_tokens >= 0 && r.prompt_tokens <= kMaxReservationTokens);
    Require(r.completion_tokens >= 0 && r.completion_tokens <= kMaxReservationTokens);
    Require(r.http_status >= 100 && r.http_status <= 599);
    if (own) Require(r.http_status == s.status_);
    if (r.outcome == Outcome::kSuccess) Require(r.http_status / 100 == 2);
  }
}

bool ServedRoute(const http::Request& r) {
  std::string path = r.target.substr(0, r.target.find('?'));
  if (r.method == "GET") return path == "/v1/models";
  return r.method == "POST" &&
         (path == "/v1/chat/completions" || path == "/v1/responses" || path == "/v1/embeddings" ||
          path == "/v1/messages" || path == "/v1/messages/count_tokens");
}

LimitValues Limits(int mode) {
  LimitValues v;
  v.requests_per_minute = mode == 2 ? 1 : 0;
  v.budget_tokens = mode == 1 ? 2000 : 0;
  v.tokens_per_minute = mode == 3 ? 100'000 : 0;
  return v;
}

void Run(const Input& in) {
  const Upstreams& up = GetUpstreams();
  Books& books = GetBooks();
  Clock().Advance(absl::Seconds(1));
  const absl::Time since = Clock().Now();
  {
    std::lock_guard lock(g_mu);
    g_script = in.upstream;
    g_upstream_calls = 0;
  }
  HandlerConfig config;
  // Kept-alive connections are shared across inputs (a new connection and
  // server thread per input would cost most of the time).
  auto& pool = in.raw ? up.raw_pool : up.server_pool;
  config.providers[Provider::kOpenAi] = {pool->url(), kOpenAiKey, pool};
  if (!in.openai_only) config.providers[Provider::kAnthropic] = {pool->url(), kAnthropicKey, pool};
  config.upstream_timeout = absl::Seconds(5);
  config.max_response_bytes = 64 << 10;
  Limiter limiter(Clock(), Limits(in.limits));
  for (const char* subject : {"agents/vm-1", "operators/alice"}) {
    if (in.limits == 2) limiter.Preload(subject, since - absl::Seconds(1), 0);
    if (in.limits == 3) limiter.Preload(subject, since - absl::Seconds(1), 99'000);
  }
  ProxyHandler handler(config, Verifier(), limiter, *books.writer, Clock());
  handler.set_metrics(books.metrics.get());
  Sink sink(in.client);
  try {
    handler.Handle(in.request, sink);
  } catch (...) {
    std::abort();  // nothing may escape the handler
  }
  Require(sink.heads_ == 1);
  Require(sink.status_ >= 100 && sink.status_ <= 599);
  const bool own = !Has(sink.headers_, kMarker);
  if (own) CheckOwnAnswer(sink);
  CheckRows(in, sink, since, own, ServedRoute(in.request));
  for (const char* subject : {"agents/vm-1", "operators/alice"}) {
    Usage u = limiter.Current(subject);
    int64_t before = in.limits == 3 ? 99'000 : 0;
    Require(u.tokens_in_budget_window >= before &&
            u.tokens_in_budget_window <= before + kMaxReservationTokens);
    Require(u.tokens_last_minute >= 0 && u.requests_last_minute <= 2);
  }
  if (absl::ToUnixSeconds(since) % 4096 == 0) {  // keep the ledger small
    books.ledger->PruneBefore(since, 1 << 20).IgnoreError();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto in = ParseInput(data, size);
  if (in) Run(*in);
  return 0;
}
