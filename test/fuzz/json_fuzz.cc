// libFuzzer target for JSON from guests and clients: common/json.h (Dump and
// the typed reads) and the inference proxy's body handling in
// inference-proxy/usage.h (PrepareRequest, UsageFromResponse, StreamUsage
// over the SSE splitter, as the proxy's handler runs them).
//
// Input byte 0 % 4 picks the mode; the rest is the input:
//   0: any bytes: parsed as JSON and read with every typed read, and also
//      put raw (invalid UTF-8 and all) into a JSON string that is dumped;
//   1: an OpenAI request body, for the path byte 0 / 4 % 4 picks;
//   2: an Anthropic request body, likewise;
//   3: an upstream response: a whole JSON body and an SSE stream (OpenAI or
//      Anthropic by bit 2 of byte 0, usage injected by bit 3).
// An exception anywhere is a crash (std::terminate). Properties checked:
// Dump's output is valid UTF-8 that parses back; typed reads answer only for
// a member of their type; PrepareRequest's facts are in range (choices
// 1..128, a generating request always has a positive output cap written into
// the body, include_usage set when injected) and a second pass over the
// rewritten body changes nothing and injects nothing; usage is never negative.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/http/sse.h"
#include "common/json.h"
#include "common/utf8.h"
#include "inference-proxy/usage.h"
#include "test/fuzz/require.h"

namespace {

using namespace clawos;
using nlohmann::json;

using clawos::fuzz::Require;

void CheckDump(const json& j) {
  std::string s = clawos::json::Dump(j);
  Require(IsValidUtf8(s));
  Require(!json::parse(s, nullptr, false).is_discarded());
}

void CheckReads(const json& j) {
  for (const char* key : {"model", "stream", "n", "max_tokens", "usage", ""}) {
    const json* m = clawos::json::Member(j, key);
    Require(m == nullptr || (j.is_object() && j.contains(key)));
    auto s = clawos::json::String(j, key);
    auto b = clawos::json::Bool(j, key);
    auto i = clawos::json::Int(j, key);
    Require(!s || (m && m->is_string()));
    Require(!b || (m && m->is_boolean()));
    Require(!i || (m && (m->is_number_integer() || m->is_number_unsigned())));
    Require((s ? 1 : 0) + (b ? 1 : 0) + (i ? 1 : 0) <= 1);
  }
}

void CheckAny(const std::string& bytes) {
  json j = json::parse(bytes, nullptr, false);
  if (!j.is_discarded()) {
    CheckDump(j);
    CheckReads(j);
  }
  json raw = {{"text", bytes}, {"list", json::array({bytes, 1})}};
  CheckDump(raw);
  CheckReads(raw);
}

void CheckPrepare(proxy::Provider provider, const std::string& path, const std::string& bytes) {
  json body = json::parse(bytes, nullptr, false);
  if (body.is_discarded()) return;
  constexpr int64_t kDefaultCap = 4096;
  auto f = proxy::PrepareRequest(provider, path, &body, kDefaultCap);
  CheckDump(body);
  if (!f.ok()) {
    Require(f.status().code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  Require(!f->model.empty() && f->choices >= 1 && f->choices <= proxy::kMaxChoices);
  Require(f->max_output >= 0);
  bool generates = path != "/v1/embeddings" && path != "/v1/messages/count_tokens";
  if (generates) Require(f->max_output > 0);
  if (f->injected_usage) {
    Require(body["stream_options"]["include_usage"] == true);
  }
  json again = body;
  auto g = proxy::PrepareRequest(provider, path, &again, kDefaultCap);
  Require(g.ok() && again == body);
  Require(g->model == f->model && g->stream == f->stream && g->max_output == f->max_output &&
          g->choices == f->choices && !g->injected_usage);
}

void CheckUsage(const proxy::TokenUsage& u) { Require(u.input >= 0 && u.output >= 0); }

void CheckResponse(proxy::Provider provider, bool injected, const std::string& bytes) {
  json body = json::parse(bytes, nullptr, false);
  if (!body.is_discarded()) CheckUsage(proxy::UsageFromResponse(provider, body));
  proxy::StreamUsage usage(provider, injected);
  http::SseSplitter split([&](const http::SseEvent& e, std::string_view) {
    usage.Observe(e);
    CheckUsage(usage.usage());
  });
  std::string error;
  Require(split.Feed(bytes, &error));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  static const char* const kOpenAi[] = {"/v1/chat/completions", "/v1/responses", "/v1/embeddings",
                                        "/v1/models"};
  static const char* const kAnthropic[] = {"/v1/messages", "/v1/messages/count_tokens",
                                           "/v1/messages", "/v1/messages"};
  const int path = data[0] / 4 % 4;
  switch (data[0] % 4) {
    case 0:
      CheckAny(rest);
      break;
    case 1:
      CheckPrepare(proxy::Provider::kOpenAi, kOpenAi[path], rest);
      break;
    case 2:
      CheckPrepare(proxy::Provider::kAnthropic, kAnthropic[path], rest);
      break;
    default:
      CheckResponse(data[0] & 4 ? proxy::Provider::kAnthropic : proxy::Provider::kOpenAi,
                    data[0] & 8, rest);
  }
  return 0;
}
