#include "inference-proxy/usage.h"

#include "absl/strings/str_cat.h"

namespace clawos::proxy {
namespace {

int64_t Int(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
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
  f.stream = stream != body->end() && stream->is_boolean() && stream->get<bool>();
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
    auto it = body->find(cap);
    if (it != body->end() && !it->is_number_integer()) {
      return absl::InvalidArgumentError(absl::StrCat("\"", cap, "\" must be an integer"));
    }
    f.max_output = it != body->end() ? it->get<int64_t>() : 0;
    if (f.max_output < 0)
      return absl::InvalidArgumentError(absl::StrCat("\"", cap, "\" is negative"));
    if (f.max_output == 0) {
      f.max_output = default_max_output;
      (*body)[cap] = f.max_output;
    }
  }
  if (provider == Provider::kOpenAi && f.stream && path == "/v1/chat/completions") {
    auto& so = (*body)["stream_options"];
    if (!so.is_object()) so = nlohmann::json::object();
    if (!so.value("include_usage", false)) {
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
    u.input = Int(us, "input_tokens") + Int(us, "cache_creation_input_tokens") +
              Int(us, "cache_read_input_tokens");
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
      if (e.name == "response.completed" || j.value("type", "") == "response.completed") {
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
  std::string type = j.value("type", e.name);
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
