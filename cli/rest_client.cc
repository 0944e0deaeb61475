#include "cli/rest_client.h"

#include <google/protobuf/util/json_util.h>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/http/sse.h"
#include "common/proto_json.h"
#include "common/request_id.h"

namespace clawos::cli {

absl::StatusCode CodeForHttpStatus(int s) {
  if (s >= 200 && s < 300) return absl::StatusCode::kOk;
  switch (s) {
    case 400:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 405:
    case 501:
      return absl::StatusCode::kUnimplemented;
    case 409:
      return absl::StatusCode::kAborted;
    case 412:
      return absl::StatusCode::kFailedPrecondition;
    case 416:
      return absl::StatusCode::kOutOfRange;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    case 499:
      return absl::StatusCode::kCancelled;
    case 500:
      return absl::StatusCode::kInternal;
    case 502:
    case 503:
      return absl::StatusCode::kUnavailable;
    case 504:
      return absl::StatusCode::kDeadlineExceeded;
    default:
      return absl::StatusCode::kUnknown;
  }
}

absl::Status StatusFromErrorBody(int http_status, std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("code") && j["code"].is_number_integer()) {
    int code = j["code"].get<int>();
    std::string message;
    if (j.contains("message") && j["message"].is_string()) message = j["message"];
    if (code > 0 && code <= static_cast<int>(absl::StatusCode::kUnauthenticated)) {
      return absl::Status(static_cast<absl::StatusCode>(code), message);
    }
  }
  absl::StatusCode code = CodeForHttpStatus(http_status);
  if (code == absl::StatusCode::kOk) code = absl::StatusCode::kUnknown;
  std::string text;
  for (char c : body.substr(0, 200)) text.push_back(c == '\n' || c == '\r' ? ' ' : c);
  return absl::Status(code, text.empty() ? absl::StrCat("HTTP ", http_status, " without a body")
                                         : absl::StrCat("HTTP ", http_status, ": ", text));
}

absl::Status ParseProtoJson(std::string_view json, google::protobuf::Message* m) {
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = true;
  auto s = google::protobuf::util::JsonStringToMessage(std::string(json), m, o);
  if (!s.ok()) {
    return absl::InternalError(absl::StrCat("the control plane's answer is not a valid ",
                                            m->GetDescriptor()->name(), ": ",
                                            std::string(s.message())));
  }
  return absl::OkStatus();
}

std::string UrlEncode(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string Query(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string q;
  for (const auto& [k, v] : params) {
    if (v.empty()) continue;
    absl::StrAppend(&q, q.empty() ? "?" : "&", k, "=", UrlEncode(v));
  }
  return q;
}

std::string PageSize(int32_t n) { return n > 0 ? std::to_string(n) : ""; }

std::string ResourcePath(std::string_view collection, std::string_view name) {
  std::string prefix = std::string(collection) + "/";
  if (name.substr(0, prefix.size()) == prefix) name.remove_prefix(prefix.size());
  return "/v1/" + std::string(collection) + "/" + UrlEncode(name);
}

std::vector<std::string> LineSplitter::Feed(std::string_view piece) {
  std::vector<std::string> out;
  buf_.append(piece);
  size_t start = 0;
  for (size_t nl; (nl = buf_.find('\n', start)) != std::string::npos; start = nl + 1) {
    size_t end = nl > start && buf_[nl - 1] == '\r' ? nl - 1 : nl;
    out.emplace_back(buf_, start, end - start);
  }
  buf_.erase(0, start);
  return out;
}

std::string LineSplitter::TakeRest() {
  std::string rest = std::move(buf_);
  buf_.clear();
  if (!rest.empty() && rest.back() == '\r') rest.pop_back();
  return rest;
}

void Canceller::Cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  if (fn_) fn_();
}

bool Canceller::cancelled() const {
  std::lock_guard lock(mu_);
  return cancelled_;
}

void Canceller::Set(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    fn_ = std::move(fn);
    if (cancelled_ && fn_) fn_();
    started_ = true;
  }
  cv_.notify_all();
}

bool Canceller::WaitStarted(absl::Duration limit) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, absl::ToChronoNanoseconds(limit), [this] { return started_; });
}

absl::StatusOr<std::unique_ptr<RestClient>> RestClient::Make(const std::string& url,
                                                             const std::string& ca_file,
                                                             std::string token,
                                                             std::string token_source) {
  auto u = http::ParseUrl(url);
  if (!u.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--url (CLAWOS_URL) \"", url, "\": ", u.status().message()));
  }
  if (!ca_file.empty()) {
    if (!u->tls) {
      return absl::InvalidArgumentError(
          absl::StrCat("--cacert is for an https:// control plane URL, not ", url));
    }
    u->ca_file = ca_file;
  }
  std::string shown = url;
  while (!shown.empty() && shown.back() == '/') shown.pop_back();
  return std::unique_ptr<RestClient>(
      new RestClient(*std::move(u), shown, std::move(token), std::move(token_source)));
}

RestClient::RestClient(http::Url url, std::string url_text, std::string token,
                       std::string token_source)
    : pool_(std::make_shared<http::ClientPool>(std::move(url), 4)),
      url_text_(std::move(url_text)),
      token_(std::move(token)),
      token_source_(std::move(token_source)) {}

absl::Status RestClient::Hint(const absl::Status& s) const {
  absl::string_view m = s.message();
  if ((s.code() == absl::StatusCode::kUnavailable ||
       s.code() == absl::StatusCode::kDeadlineExceeded) &&
      (absl::StartsWith(m, "connecting to") || absl::StartsWith(m, "resolving"))) {
    return absl::Status(s.code(), absl::StrCat(m, " (is clawos-controlplane running at ", url_text_,
                                               "? set --url or CLAWOS_URL; --direct talks to "
                                               "the daemons)"));
  }
  if (absl::StartsWith(m, "TLS with")) {
    return absl::Status(s.code(),
                        absl::StrCat(m, pool_->url().ca_file.empty()
                                            ? " (a control plane with a private CA: give --cacert "
                                              "or CLAWOS_CA_FILE)"
                                            : " (did the --cacert CA sign its certificate, for "
                                              "this host name?)"));
  }
  if (s.code() == absl::StatusCode::kUnauthenticated ||
      s.code() == absl::StatusCode::kPermissionDenied) {
    return absl::Status(s.code(), absl::StrCat(m, " (operator token from ", token_source_, ")"));
  }
  return s;
}

absl::StatusOr<std::unique_ptr<http::ClientCall>> RestClient::Start(
    const std::string& method, const std::string& path, const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers, absl::Duration timeout) {
  http::ClientRequest r;
  r.method = method;
  r.path = path;
  r.headers = {{"authorization", "Bearer " + token_},
               {kRequestIdHeader, NewRequestId()},
               {"user-agent", "clawos-cli"}};
  if (!body.empty()) r.headers.emplace_back("content-type", "application/json");
  r.headers.insert(r.headers.end(), headers.begin(), headers.end());
  r.body = body;
  auto call = http::ClientCall::Start(pool_, r, timeout);
  if (!call.ok()) return Hint(call.status());
  return call;
}

absl::StatusOr<std::string> RestClient::Call(const std::string& method, const std::string& path,
                                             const std::string& body, absl::Duration timeout) {
  auto call = Start(method, path, body, {{"accept", "application/json"}}, timeout);
  if (!call.ok()) return call.status();
  std::string answer;
  for (bool done = false; !done;) {
    auto piece = (*call)->Read(&done);
    if (!piece.ok()) {
      return absl::Status(
          piece.status().code(),
          absl::StrCat("reading the control plane's answer: ", piece.status().message()));
    }
    answer += *piece;
  }
  int status = (*call)->head().status;
  if (status < 200 || status >= 300) return Hint(StatusFromErrorBody(status, answer));
  return answer;
}

absl::Status RestClient::CallProto(const std::string& method, const std::string& path,
                                   const google::protobuf::Message* body,
                                   google::protobuf::Message* resp, absl::Duration timeout) {
  auto answer = Call(method, path, body ? clawos::ToJson(*body) : "", timeout);
  if (!answer.ok()) return answer.status();
  return ParseProtoJson(*answer, resp);
}

absl::Status RestClient::Stream(const std::string& method, const std::string& path,
                                const std::string& body,
                                const std::vector<std::pair<std::string, std::string>>& headers,
                                absl::Duration timeout,
                                const std::function<absl::Status(std::string_view)>& on_data,
                                Canceller* cancel) {
  auto started = Start(method, path, body, headers, timeout);
  if (!started.ok()) {
    if (cancel) cancel->Set(nullptr);
    return started.status();
  }
  std::unique_ptr<http::ClientCall> call = *std::move(started);
  int status = call->head().status;
  if (status < 200 || status >= 300) {
    if (cancel) cancel->Set(nullptr);
    return Hint(StatusFromErrorBody(status, call->ReadAll()));
  }
  http::ClientCall* raw = call.get();
  if (cancel) cancel->Set([raw] { raw->Cancel(); });
  absl::Status result;
  for (bool done = false; !done;) {
    auto piece = call->Read(&done);
    if (!piece.ok()) {
      if (cancel && cancel->cancelled()) {
        result = absl::CancelledError("the call was cancelled");
      } else if (piece.status().code() == absl::StatusCode::kDeadlineExceeded) {
        result = absl::DeadlineExceededError(
            absl::StrCat("the control plane sent nothing for ", absl::FormatDuration(timeout)));
      } else {
        result = absl::UnavailableError(
            absl::StrCat("the control plane's stream broke: ", piece.status().message()));
      }
      break;
    }
    if (!piece->empty()) {
      result = on_data(*piece);
      if (!result.ok()) break;
    }
  }
  if (cancel) cancel->Set(nullptr);
  return result;
}

absl::Status RestClient::StreamEvents(
    const std::string& path, std::vector<std::pair<std::string, std::string>> headers,
    const std::string& event, absl::Duration timeout,
    const std::function<absl::Status(std::string_view data)>& on_data, Canceller* cancel) {
  absl::Status failed;  // the first error event or refused message ends the stream
  http::SseSplitter sse([&](const http::SseEvent& ev, std::string_view) {
    if (!failed.ok()) return;
    if (ev.name == "error") {
      failed = StatusFromErrorBody(500, ev.data);
    } else if (ev.name == event) {
      failed = on_data(ev.data);
    }
  });
  headers.emplace_back("accept", "text/event-stream");
  absl::Status s = Stream(
      "GET", path, "", headers, timeout,
      [&](std::string_view piece) {
        std::string error;
        if (!sse.Feed(piece, &error)) return absl::DataLossError(error);
        return failed;
      },
      cancel);
  return s.ok() ? failed : s;
}

}  // namespace clawos::cli
