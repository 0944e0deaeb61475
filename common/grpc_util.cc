#include "common/grpc_util.h"

#include "absl/strings/str_cat.h"
#include "common/crypto/encoding.h"

namespace clawos {

grpc::Status UntrustedDenied(std::string_view method) {
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      absl::StrCat(std::string(method),
                                   " needs a trusted transport: call over the daemon's unix "
                                   "socket or over TLS with a client certificate (mTLS)"));
}

absl::StatusOr<int> PageSize(int32_t requested) {
  if (requested < 0) return absl::InvalidArgumentError("page_size must not be negative");
  if (requested == 0) return 100;
  return std::min<int>(requested, 1000);
}

std::string EncodePageToken(const std::string& last_key) {
  return crypto::Base64UrlEncode(last_key);
}

absl::StatusOr<std::string> DecodePageToken(const std::string& token) {
  auto raw = crypto::Base64UrlDecode(token);
  if (!raw.ok() || raw->empty()) {
    return absl::InvalidArgumentError("page_token is not one this server issued");
  }
  return crypto::AsString(*raw);
}

google::protobuf::Timestamp ToProtoTime(absl::Time t) {
  google::protobuf::Timestamp out;
  if (t == absl::InfinitePast()) return out;
  int64_t ns = absl::ToUnixNanos(t);
  out.set_seconds(ns / 1000000000);
  out.set_nanos(static_cast<int32_t>(ns % 1000000000));
  return out;
}

absl::Time FromProtoTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

google::protobuf::Duration ToProtoDuration(absl::Duration d) {
  google::protobuf::Duration out;
  int64_t ns = absl::ToInt64Nanoseconds(d);
  out.set_seconds(ns / 1000000000);
  out.set_nanos(static_cast<int32_t>(ns % 1000000000));
  return out;
}

absl::Duration FromProtoDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

}  // namespace clawos
