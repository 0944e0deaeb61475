// Small pieces every gRPC service needs: the trusted-transport refusal,
// page sizes and page tokens, and protobuf time conversions.
#pragma once

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>
#include <grpcpp/support/status.h>

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace clawos {

// PERMISSION_DENIED for a [trusted] method called over an untrusted transport.
grpc::Status UntrustedDenied(std::string_view method);

// 0 → 100; negative → INVALID_ARGUMENT; capped at 1000.
absl::StatusOr<int> PageSize(int32_t requested);
// A page token is the last key of the previous page, base64url-encoded.
std::string EncodePageToken(const std::string& last_key);
absl::StatusOr<std::string> DecodePageToken(const std::string& token);

google::protobuf::Timestamp ToProtoTime(absl::Time t);
absl::Time FromProtoTime(const google::protobuf::Timestamp& t);
google::protobuf::Duration ToProtoDuration(absl::Duration d);
absl::Duration FromProtoDuration(const google::protobuf::Duration& d);

}  // namespace clawos
