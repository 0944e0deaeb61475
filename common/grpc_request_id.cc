// The gRPC half of request_id.h (metadata in and out), apart so that the
// rest links without gRPC.
#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>

#include "common/request_id.h"

namespace clawos {
namespace {

bool Sane(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace

ScopedRequestId::ScopedRequestId(grpc::ServerContext* ctx)
    : ScopedRequestId([ctx] {
        std::string id;
        auto& md = ctx->client_metadata();
        auto it = md.find(kRequestIdHeader);
        if (it != md.end()) {
          std::string_view v(it->second.data(), it->second.size());
          if (Sane(v)) id = std::string(v);
        }
        if (id.empty()) id = NewRequestId();
        ctx->AddInitialMetadata(kRequestIdHeader, id);
        return id;
      }()) {}

void AttachRequestId(grpc::ClientContext* ctx) {
  const std::string& id = CurrentRequestId();
  ctx->AddMetadata(kRequestIdHeader, id.empty() ? NewRequestId() : id);
}

}  // namespace clawos
