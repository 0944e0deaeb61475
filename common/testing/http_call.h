// Test helper: one whole HTTP call to a daemon on 127.0.0.1 (status, headers,
// body), with the real HTTP client.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace clawos::testing {

struct HttpAnswer {
  int status = 0;  // 0: no answer (body says why)
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string Header(const std::string& name) const;
  // The body as JSON (discarded when it is not).
  nlohmann::json Json() const { return nlohmann::json::parse(body, nullptr, false); }
};

// Adds content-type: application/json when there is a body.
HttpAnswer HttpCall(int port, const std::string& method, const std::string& path,
                    const std::string& body = "",
                    std::vector<std::pair<std::string, std::string>> headers = {});

}  // namespace clawos::testing
