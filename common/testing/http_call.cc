#include "common/testing/http_call.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/http/client.h"

namespace clawos::testing {

std::string HttpAnswer::Header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (absl::EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

HttpAnswer HttpCall(int port, const std::string& method, const std::string& path,
                    const std::string& body,
                    std::vector<std::pair<std::string, std::string>> headers) {
  if (!body.empty()) headers.emplace_back("content-type", "application/json");
  HttpAnswer a;
  auto c = http::ClientCall::Start(http::ParseUrl(absl::StrCat("http://127.0.0.1:", port)).value(),
                                   {method, path, headers, body}, absl::Minutes(5));
  if (!c.ok()) {
    a.body = c.status().ToString();
    return a;
  }
  a.status = (*c)->head().status;
  a.headers = (*c)->head().headers;
  a.body = (*c)->ReadAll();
  return a;
}

}  // namespace clawos::testing
