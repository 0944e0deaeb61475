// Token usage as the providers report it, from whole JSON responses and from
// SSE streams, and the request rewrite that makes a stream report it: for an
// OpenAI chat stream whose client did not ask for usage, the proxy asks
// upstream (stream_options.include_usage) and drops that extra usage-only
// event from what the client sees.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "common/http/sse.h"

namespace clawos::proxy {

// a + b for counts >= 0, stuck at INT64_MAX instead of wrapping.
inline int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_add_overflow(a, b, &r) ? std::numeric_limits<int64_t>::max() : r;
}
inline int64_t SaturatingMul(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_mul_overflow(a, b, &r) ? std::numeric_limits<int64_t>::max() : r;
}

inline constexpr int64_t kMaxChoices = 128;  // OpenAI's own bound on n

enum class Provider { kOpenAi, kAnthropic };
const char* ProviderName(Provider p);  // "openai", "anthropic"

struct TokenUsage {
  int64_t input = 0;
  int64_t output = 0;
  bool reported = false;  // the upstream said so (else the reservation stands)
  int64_t total() const { return SaturatingAdd(input, output); }
};

// What the proxy needs from a request body before sending it on.
struct RequestFacts {
  std::string model;
  bool stream = false;
  int64_t max_output = 0;       // max_tokens / max_completion_tokens / max_output_tokens; 0: none
  int64_t choices = 1;          // completions generated: max(n, best_of) on OpenAI's older APIs
  bool injected_usage = false;  // include_usage was added by the proxy
};

// Parses and, where needed, rewrites the JSON body of `path` for `provider`:
// a missing output cap is set to `default_max_output` (so the reservation is a
// true upper bound), and OpenAI chat streams get include_usage. INVALID_ARGUMENT
// for a body that is not a JSON object, lacks "model", or has a field of the
// wrong type (stream, stream_options.include_usage, the cap, n, best_of);
// n and best_of must be 1..kMaxChoices. Never throws, whatever the body.
absl::StatusOr<RequestFacts> PrepareRequest(Provider provider, const std::string& path,
                                            nlohmann::json* body, int64_t default_max_output);

// Usage from a complete (non-streamed) JSON response.
TokenUsage UsageFromResponse(Provider provider, const nlohmann::json& body);

// Watches a stream's events: accumulates usage and says which events to pass on.
class StreamUsage {
 public:
  StreamUsage(Provider provider, bool injected_usage)
      : provider_(provider), injected_(injected_usage) {}
  // Returns false when the event must not reach the client (the injected usage chunk).
  bool Observe(const http::SseEvent& event);
  const TokenUsage& usage() const { return usage_; }
  // The stream ended properly ([DONE] or message_stop).
  bool complete() const { return complete_; }

 private:
  Provider provider_;
  bool injected_;
  TokenUsage usage_;
  bool complete_ = false;
};

}  // namespace clawos::proxy
