// One unary gRPC call from the CLI: a channel to `addr`, a stub of Service,
// a deadline and a fresh request id; the status as absl::Status.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/grpc_client.h"
#include "common/grpc_status.h"

namespace clawos::cli {

template <typename Service, typename Resp, typename Req, typename Fn>
absl::StatusOr<Resp> CallUnary(const std::string& addr, const ClientOptions& tls, Fn method,
                               const Req& req, absl::Duration timeout = absl::Seconds(30)) {
  auto ch = MakeChannel(addr, tls);
  if (!ch.ok()) return ch.status();
  auto stub = Service::NewStub(*ch);
  Resp resp;
  if (auto s = CallStub(*stub, method, req, &resp, timeout); !s.ok()) return s;
  return resp;
}

}  // namespace clawos::cli
