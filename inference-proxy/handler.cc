#include "inference-proxy/handler.h"

#include <atomic>
#include <cctype>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/crypto/random.h"
#include "common/http/http1.h"
#include "common/http/sse.h"
#include "common/json.h"
#include "common/log.h"
#include "common/utf8.h"

namespace clawos::proxy {
namespace {

// An id for a request that came without a usable x-request-id: a random
// per-process prefix and a counter (unique, and no RNG call per request).
std::string NewRequestId() {
  static const std::string prefix = crypto::RandomId(9).value_or("proxy");
  static std::atomic<uint64_t> next{0};
  return absl::StrCat(prefix, "-", next.fetch_add(1, std::memory_order_relaxed));
}

struct Route {
  Provider provider;
  bool has_body;
};

// The routes the proxy serves; anything else is 404.
bool FindRoute(const std::string& method, const std::string& path, Route* r) {
  if (method == "POST" &&
      (path == "/v1/chat/completions" || path == "/v1/responses" || path == "/v1/embeddings")) {
    *r = {Provider::kOpenAi, true};
  } else if (method == "GET" && path == "/v1/models") {
    *r = {Provider::kOpenAi, false};
  } else if (method == "POST" && (path == "/v1/messages" || path == "/v1/messages/count_tokens")) {
    *r = {Provider::kAnthropic, true};
  } else {
    return false;
  }
  return true;
}

// The provider's own error shape, so its SDKs report the reason.
std::string ErrorBody(Provider p, int status, const std::string& message) {
  std::string type = status == 401   ? "authentication_error"
                     : status == 403 ? "permission_error"
                     : status == 429 ? "rate_limit_error"
                     : status == 400 ? "invalid_request_error"
                     : status == 404 ? "not_found_error"
                     : status >= 500 ? "api_error"
                                     : "invalid_request_error";
  if (p == Provider::kAnthropic) {
    return json::Dump(
        nlohmann::json{{"type", "error"}, {"error", {{"type", type}, {"message", message}}}});
  }
  return json::Dump(
      nlohmann::json{{"error", {{"message", message}, {"type", type}, {"code", nullptr}}}});
}

// The launcher issues each VM's token for the subject "agents/<vm id>".
std::string VmOfSubject(const std::string& subject) {
  const std::string kAgents = "agents/";
  return absl::StartsWith(subject, kAgents) ? subject.substr(kAgents.size()) : "";
}

std::string BearerToken(const http::Request& r) {
  std::string auth = r.Header("authorization");
  if (absl::StartsWithIgnoreCase(auth, "bearer ")) return auth.substr(7);
  return r.Header("x-api-key");  // Anthropic clients send the key there
}

}  // namespace

absl::StatusOr<std::pair<std::string, Provider>> ParseModelRoute(const std::string& rule) {
  size_t eq = rule.find('=');
  std::string prefix = rule.substr(0, eq);
  std::string provider = eq == std::string::npos ? "" : rule.substr(eq + 1);
  bool ok = !prefix.empty() && prefix.size() <= 128;
  for (char c : prefix)
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ||
                c == ':' || c == '/');
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("model route \"", rule, "\": want PREFIX=openai or PREFIX=anthropic"));
  }
  if (provider == "openai") return std::pair{prefix, Provider::kOpenAi};
  if (provider == "anthropic") return std::pair{prefix, Provider::kAnthropic};
  return absl::InvalidArgumentError(absl::StrCat("model route \"", rule, "\": unknown provider \"",
                                                 provider, "\" (openai or anthropic)"));
}

void ProxyHandler::Handle(const http::Request& req, http::ResponseSink& sink) {
  const absl::Time start = clock_.Now();
  if (metrics_) metrics_->Started();
  LedgerRow row;
  row.request_id = req.Header("x-request-id");
  if (!http::IsSafeRequestId(row.request_id)) row.request_id = NewRequestId();
  row.time = start;
  row.method = req.method;
  row.path = req.target.substr(0, req.target.find('?'));
  // row.vm comes from the verified token below, never from a header.
  Route route{Provider::kOpenAi, false};
  bool routed = FindRoute(req.method, row.path, &route);
  Provider provider = route.provider;

  auto finish = [&](Outcome o, int status) {
    row.outcome = o;
    row.http_status = status;
    row.latency = clock_.Now() - start;
    if (row.provider.empty()) row.provider = ProviderName(provider);
    if (metrics_) metrics_->Finished(row);
    // Who could not authenticate is counted in metrics only: rows are for
    // callers we know, so an anonymous flood cannot grow the ledger or
    // rotate the audit log's history away.
    if (row.subject.empty()) return;
    ledger_.Record(row);  // the writer thread also writes its audit line
  };
  auto refuse = [&](Outcome o, int status, const std::string& message,
                    std::vector<std::pair<std::string, std::string>> extra = {}) {
    row.error = message;
    extra.emplace_back("content-type", "application/json");
    extra.emplace_back("x-request-id", row.request_id);
    if (sink.Head(status, extra, false)) {
      sink.Body(ErrorBody(provider, status, message));
      sink.End();
    }
    finish(o, status);
  };

  if (!routed) {
    return refuse(Outcome::kBadRequest, 404,
                  absl::StrCat("no route ", req.method, " ", row.path, " on the inference proxy"));
  }
  auto claims = auth_.Verify(BearerToken(req));
  if (!claims.ok())
    return refuse(Outcome::kUnauthenticated, 401, std::string(claims.status().message()));
  row.subject = claims->subject;
  row.vm = VmOfSubject(claims->subject);

  nlohmann::json body;
  RequestFacts facts;
  if (route.has_body) {
    body = nlohmann::json::parse(req.body, nullptr, false);
    auto f = PrepareRequest(provider, row.path, &body, config_.default_max_output);
    if (body.is_discarded()) f = absl::InvalidArgumentError("the request body is not JSON");
    if (!f.ok()) return refuse(Outcome::kBadRequest, 400, std::string(f.status().message()));
    facts = *f;
    row.model = facts.model;
    row.streamed = facts.stream;
    if (!ModelAllowed(limiter_.Effective(row.subject), claims->model, facts.model)) {
      return refuse(Outcome::kForbidden, 403,
                    absl::StrCat("model \"", ToValidUtf8(facts.model.substr(0, 128)),
                                 "\" is not this agent's: its VM runs ", claims->model,
                                 " (an operator may allow more: clawos proxy limits set ",
                                 row.subject, " --allow-model MODEL)"));
    }
    for (const auto& [prefix, p] : config_.model_prefixes) {
      if (absl::StartsWith(facts.model, prefix)) provider = p;
    }
    if (provider != route.provider) {
      return refuse(Outcome::kBadRequest, 400,
                    absl::StrCat("model ", facts.model, " is served by ", ProviderName(provider),
                                 ", not on ", row.path));
    }
  }
  row.provider = ProviderName(provider);
  auto upstream = config_.providers.find(provider);
  if (upstream == config_.providers.end()) {
    return refuse(Outcome::kUpstreamError, 503,
                  absl::StrCat("no ", ProviderName(provider),
                               " upstream is configured on this proxy (its key is missing)"));
  }

  // Reserve the worst case: the prompt (estimated from its size) plus the
  // output cap for each choice generated.
  int64_t reserve = SaturatingAdd(
      static_cast<int64_t>(req.body.size()) / std::max<int64_t>(1, config_.bytes_per_token),
      SaturatingMul(facts.max_output, facts.choices));
  Refusal why;
  auto reservation = limiter_.Reserve(row.subject, reserve, &why);
  if (!reservation.ok() && why.never_fits) {  // waiting would not help: not a 429
    return refuse(Outcome::kBadRequest, 400, std::string(reservation.status().message()));
  }
  if (!reservation.ok()) {
    int64_t retry = absl::ToInt64Seconds(absl::Ceil(why.retry_after, absl::Seconds(1)));
    return refuse(
        why.kind == Refusal::Kind::kBudget ? Outcome::kBudgetExceeded : Outcome::kRateLimited, 429,
        std::string(reservation.status().message()),
        {{"retry-after", std::to_string(std::max<int64_t>(1, retry))}});
  }
  TokenUsage used;
  auto settle = [&](bool use_reservation_if_unreported) {
    int64_t tokens = used.reported ? used.total() : (use_reservation_if_unreported ? reserve : 0);
    limiter_.Settle(*reservation, tokens);
    row.prompt_tokens = std::min(used.input, kMaxReservationTokens);
    row.completion_tokens = std::min(used.output, kMaxReservationTokens);
  };

  http::ClientRequest up;
  up.method = req.method;
  up.path = req.target;
  up.body = route.has_body ? json::Dump(body) : "";
  up.headers = {{"content-type", "application/json"},
                {"accept", facts.stream ? "text/event-stream" : "application/json"},
                {"x-request-id", row.request_id}};
  const ProviderConfig& pc = upstream->second;
  if (provider == Provider::kAnthropic) {
    up.headers.emplace_back("x-api-key", pc.api_key);
    std::string version = req.Header("anthropic-version");
    up.headers.emplace_back("anthropic-version", version.empty() ? "2023-06-01" : version);
    if (std::string beta = req.Header("anthropic-beta"); !beta.empty()) {
      up.headers.emplace_back("anthropic-beta", beta);
    }
  } else {
    up.headers.emplace_back("authorization", "Bearer " + pc.api_key);
  }
  auto call = http::ClientCall::Start(pc.pool, up, config_.upstream_timeout);
  if (!call.ok()) {
    settle(false);
    return refuse(
        Outcome::kUpstreamError,
        call.status().code() == absl::StatusCode::kDeadlineExceeded ? 504 : 502,
        absl::StrCat("the ", row.provider, " upstream failed: ", call.status().message()));
  }
  http::ClientCall& c = **call;
  const int status = c.head().status;
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& h : c.head().headers) {
    if (!http::EqualsIgnoreCase(h.first, "x-request-id")) headers.push_back(h);
  }
  headers.emplace_back("x-request-id", row.request_id);
  bool event_stream = false;
  for (const auto& [k, v] : c.head().headers) {
    if (http::EqualsIgnoreCase(k, "content-type") && absl::StrContains(v, "text/event-stream")) {
      event_stream = true;
    }
  }

  if (event_stream && status / 100 == 2) {  // passed through event by event
    if (!sink.Head(status, headers, true)) {
      c.Cancel();
      settle(true);
      return finish(Outcome::kClientCancelled, status);
    }
    StreamUsage su(provider, facts.injected_usage);
    bool client_gone = false;
    http::SseSplitter split([&](const http::SseEvent& e, std::string_view raw) {
      if (su.Observe(e) && !client_gone) client_gone = !sink.Body(std::string(raw));
    });
    std::string error;
    bool done = false;
    absl::Status cut = absl::OkStatus();
    while (!done && !client_gone) {
      auto piece = c.Read(&done);
      if (!piece.ok()) {
        cut = piece.status();
        break;
      }
      if (!split.Feed(*piece, &error)) {
        cut = absl::DataLossError(error);
        break;
      }
    }
    used = su.usage();
    if (client_gone) {
      c.Cancel();
      settle(true);
      row.error = "the client went away mid-stream";
      return finish(Outcome::kClientCancelled, status);
    }
    if (!cut.ok() || !su.complete()) {
      settle(true);
      row.error = cut.ok() ? "the upstream ended the stream early" : std::string(cut.message());
      sink.End();
      return finish(Outcome::kUpstreamError, 502);
    }
    if (!split.pending().empty()) sink.Body(std::string(split.pending()));  // an unterminated tail
    settle(true);
    sink.End();
    return finish(Outcome::kSuccess, status);
  }

  // Whole answers: read (bounded), account, pass on.
  std::string answer;
  bool done = false;
  while (!done) {
    auto piece = c.Read(&done);
    if (!piece.ok()) {
      settle(false);
      return refuse(
          Outcome::kUpstreamError, 502,
          absl::StrCat("the ", row.provider, " upstream broke off: ", piece.status().message()));
    }
    answer += *piece;
    if (answer.size() > config_.max_response_bytes) {
      c.Cancel();
      settle(true);
      return refuse(Outcome::kUpstreamError, 502, "the upstream's answer is over the size limit");
    }
  }
  if (status / 100 == 2 && route.has_body) {
    auto j = nlohmann::json::parse(answer, nullptr, false);
    if (j.is_discarded()) {
      settle(true);
      return refuse(Outcome::kUpstreamError, 502,
                    absl::StrCat("the ", row.provider, " upstream answered with malformed JSON"));
    }
    used = UsageFromResponse(provider, j);
  }
  settle(status / 100 == 2);
  Outcome outcome = status / 100 == 2 ? Outcome::kSuccess
                    : status >= 500   ? Outcome::kUpstreamError
                                      : Outcome::kBadRequest;
  if (status / 100 != 2) row.error = absl::StrCat("the upstream answered ", status);
  if (sink.Head(status, headers, false)) {
    sink.Body(answer);
    sink.End();
  }
  finish(outcome, status);
}

}  // namespace clawos::proxy
