// The CLI's client of clawos-controlplane's REST API: JSON calls with the
// operator token, streamed answers (NDJSON lines, server-sent events), and
// the API's error bodies mapped back to absl::Status. The parsers are pure so
// they are unit-tested without a network.
#pragma once

#include <google/protobuf/message.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/http/client.h"

namespace clawos::cli {

// The absl code for an HTTP status, for answers without the API's error body.
absl::StatusCode CodeForHttpStatus(int http_status);
// An error answer: `{"code": <gRPC code>, "message": ..., "details": []}`
// gives that code and message; anything else the code of the HTTP status and
// the start of the body.
absl::Status StatusFromErrorBody(int http_status, std::string_view body);
// Protobuf JSON into `m`, ignoring fields this CLI does not know yet.
absl::Status ParseProtoJson(std::string_view json, google::protobuf::Message* m);
// Percent-encodes all but RFC 3986's unreserved characters.
std::string UrlEncode(std::string_view s);
// "?a=1&b=x" of the parameters that are set (empty values are left out).
std::string Query(const std::vector<std::pair<std::string, std::string>>& params);
// A page_size parameter: empty (the server's default) when not positive.
std::string PageSize(int32_t n);
// The REST path of a resource: ("vms", "vms/web" or "web") → "/v1/vms/web".
std::string ResourcePath(std::string_view collection, std::string_view name);

// Splits a byte stream into lines ("\n", an optional "\r" dropped) however
// it was cut into pieces.
class LineSplitter {
 public:
  // The lines `piece` completed.
  std::vector<std::string> Feed(std::string_view piece);
  // What is left after the last line break (a last line without one).
  std::string TakeRest();

 private:
  std::string buf_;
};

// One server-sent event: its id, type ("message" unless named) and data
// (several data lines joined by "\n").
// Lets another thread end a call in progress. The call registers how to
// abort it once it is under way; Cancel() before that makes the call abort
// as soon as it registers.
class Canceller {
 public:
  void Cancel();
  bool cancelled() const;
  // Called by the call: `fn` aborts it (null when it ended). Also marks the call started.
  void Set(std::function<void()> fn);
  // Waits until the call is under way (or failed to start), at most `limit`.
  bool WaitStarted(absl::Duration limit);

 private:
  mutable std::mutex mu_;
  std::function<void()> fn_;
  std::condition_variable cv_;
  bool cancelled_ = false;
  bool started_ = false;
};

class RestClient {
 public:
  // `url` as --url takes it; `ca_file` trusts that CA for https instead of the system's.
  static absl::StatusOr<std::unique_ptr<RestClient>> Make(const std::string& url,
                                                          const std::string& ca_file,
                                                          std::string token,
                                                          std::string token_source);
  // One JSON call: the body of a 2xx answer, or the error.
  absl::StatusOr<std::string> Call(const std::string& method, const std::string& path,
                                   const std::string& body, absl::Duration timeout);
  // As Call, with protobuf messages (`body` null: no body).
  absl::Status CallProto(const std::string& method, const std::string& path,
                         const google::protobuf::Message* body, google::protobuf::Message* resp,
                         absl::Duration timeout);
  // A streamed answer: each piece of a 2xx body goes to `on_data` (a non-OK
  // status from it ends the call with that status). `timeout` bounds each
  // wait for data. An error answer gives its status.
  absl::Status Stream(const std::string& method, const std::string& path, const std::string& body,
                      const std::vector<std::pair<std::string, std::string>>& headers,
                      absl::Duration timeout,
                      const std::function<absl::Status(std::string_view)>& on_data,
                      Canceller* cancel = nullptr);
  // A GET of server-sent events: the data of each event named `event` goes
  // to `on_data` (a non-OK status from it ends the call with that status); an
  // "error" event ends it with the error it carries.
  absl::Status StreamEvents(const std::string& path,
                            std::vector<std::pair<std::string, std::string>> headers,
                            const std::string& event, absl::Duration timeout,
                            const std::function<absl::Status(std::string_view data)>& on_data,
                            Canceller* cancel = nullptr);
  const std::string& url() const { return url_text_; }

 private:
  RestClient(http::Url url, std::string url_text, std::string token, std::string token_source);
  absl::StatusOr<std::unique_ptr<http::ClientCall>> Start(
      const std::string& method, const std::string& path, const std::string& body,
      const std::vector<std::pair<std::string, std::string>>& headers, absl::Duration timeout);
  // Adds what the operator can do about an error (start the control plane, the token).
  absl::Status Hint(const absl::Status& s) const;

  std::shared_ptr<http::ClientPool> pool_;
  std::string url_text_;
  std::string token_;
  std::string token_source_;
};

}  // namespace clawos::cli
