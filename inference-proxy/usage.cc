#include "inference-proxy/usage.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/json.h"

namespace clawos::proxy {
namespace {

// A usage count: absent, negative or not an integer counts as 0.
int64_t Int(const nlohmann::json& j, const char* key) {
  return std::max<int64_t>(0, json::Int(j, key).value_or(0));
}

}  // namespace

const char* ProviderName(Provider p) { return p == Provider::kOpenAi ? "openai" : "anthropic"; }

absl::StatusOr<RequestFacts> PrepareRequest(Provider provider, const std::string& path,
                                            nlohmann::json* body, int64_t default_max_output) {
  if (!body->is_object())
    return absl::InvalidArgumentError("the request body must be a JSON object");
  RequestFacts f;
  auto model = body->find("model");
  if (model == body->end() || !model->is_string() || model->get<std::string>().empty()) {
    return absl::InvalidArgumentError("the request names no \"model\"");
  }
  f.model = model->get<std::string>();
  auto stream = body->find("stream");
  if (stream != body->end() && !stream->is_boolean() && !stream->is_null()) {
    return absl::InvalidArgumentError("\"stream\" must be true or false");
  }
  f.stream = stream != body->end() && stream->is_boolean() && stream->get<bool>();
  for (const char* key : {"n", "best_of"}) {  // each choice can use the whole output cap
    const nlohmann::json* v = json::Member(*body, key);
    if (v == nullptr || v->is_null()) continue;
    std::optional<int64_t> n = json::Int(*body, key);
    if (!n || *n < 1 || *n > kMaxChoices) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", key, "\" must be an integer from 1 to ", kMaxChoices));
    }
    f.choices = std::max(f.choices, *n);
  }
  // The output cap: the field each API uses; set when missing so usage is bounded.
  const char* cap = "max_tokens";
  if (provider == Provider::kOpenAi) {
    if (path == "/v1/responses") {
      cap = "max_output_tokens";
    } else if (body->contains("max_completion_tokens") || !body->contains("max_tokens")) {
      cap = "max_completion_tokens";
    }
  }
  bool generates = path != "/v1/embeddings" && path != "/v1/messages/count_tokens";
  if (generates) {
    const nlohmann::json* it = json::Member(*body, cap);
    std::optional<int64_t> v = json::Int(*body, cap);
    if (it != nullptr && !it->is_null() && !v) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", cap, "\" must be an integer that fits in 64 bits"));
    }
    f.max_output = v.value_or(0);
    if (f.max_output < 0)
      return absl::InvalidArgumentError(absl::StrCat("\"", cap, "\" is negative"));
    if (f.max_output == 0) {
      f.max_output = default_max_output;
      (*body)[cap] = f.max_output;
    }
  }
  if (provider == Provider::kOpenAi && f.stream && path == "/v1/chat/completions") {
    auto& so = (*body)["stream_options"];
    if (!so.is_object() && !so.is_null()) {
      return absl::InvalidArgumentError("\"stream_options\" must be an object");
    }
    if (!so.is_object()) so = nlohmann::json::object();
    const nlohmann::json* inc = json::Member(so, "include_usage");
    if (inc != nullptr && !inc->is_boolean()) {
      return absl::InvalidArgumentError("\"stream_options.include_usage\" must be true or false");
    }
    if (!json::Bool(so, "include_usage").value_or(false)) {
      so["include_usage"] = true;
      f.injected_usage = true;
    }
  }
  return f;
}

TokenUsage UsageFromResponse(Provider provider, const nlohmann::json& body) {
  TokenUsage u;
  auto it = body.find("usage");
  if (provider == Provider::kAnthropic && it == body.end() && body.contains("input_tokens")) {
    return u;  // count_tokens: counting is free
  }
  if (it == body.end() || !it->is_object()) return u;
  const auto& us = *it;
  if (provider == Provider::kAnthropic) {
    u.input = SaturatingAdd(
        Int(us, "input_tokens"),
        SaturatingAdd(Int(us, "cache_creation_input_tokens"), Int(us, "cache_read_input_tokens")));
    u.output = Int(us, "output_tokens");
  } else if (us.contains("input_tokens")) {  // the Responses API
    u.input = Int(us, "input_tokens");
    u.output = Int(us, "output_tokens");
  } else {
    u.input = Int(us, "prompt_tokens");
    u.output = Int(us, "completion_tokens");
  }
  u.reported = true;
  return u;
}

bool StreamUsage::Observe(const http::SseEvent& e) {
  if (provider_ == Provider::kOpenAi) {
    if (e.data == "[DONE]") {
      complete_ = true;
      return true;
    }
    auto j = nlohmann::json::parse(e.data, nullptr, false);
    if (!j.is_object()) return true;
    if (j.contains("response") && j["response"].is_object()) {  // Responses API events
      if (e.name == "response.completed" ||
          json::String(j, "type").value_or("") == "response.completed") {
        TokenUsage u = UsageFromResponse(provider_, j["response"]);
        if (u.reported) usage_ = u;
        complete_ = true;
      }
      return true;
    }
    auto us = j.find("usage");
    if (us != j.end() && us->is_object()) {
      usage_.input = Int(*us, "prompt_tokens");
      usage_.output = Int(*us, "completion_tokens");
      usage_.reported = true;
      // The usage-only chunk the proxy asked for: not the client's to see.
      auto choices = j.find("choices");
      bool usage_only = choices == j.end() || (choices->is_array() && choices->empty());
      if (injected_ && usage_only) return false;
    }
    return true;
  }
  // Anthropic: message_start carries input (and initial output), message_delta the output so far.
  auto j = nlohmann::json::parse(e.data, nullptr, false);
  if (!j.is_object()) return true;
  std::string type = json::String(j, "type").value_or(e.name);
  if (type == "message_start" && j.contains("message")) {
    TokenUsage u = UsageFromResponse(provider_, j["message"]);
    usage_.input = u.input;
    usage_.output = u.output;
    usage_.reported = u.reported;
  } else if (type == "message_delta" && j.contains("usage") && j["usage"].is_object()) {
    usage_.output = Int(j["usage"], "output_tokens");
    usage_.reported = true;
  } else if (type == "message_stop") {
    complete_ = true;
  }
  return true;
}

}  // namespace clawos::proxy
