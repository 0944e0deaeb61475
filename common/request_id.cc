#include "common/request_id.h"

#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>

#include "common/crypto/random.h"

namespace clawos {
namespace {

thread_local std::string t_request_id;

bool Sane(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace

const std::string& CurrentRequestId() { return t_request_id; }

std::string NewRequestId() {
  auto id = crypto::RandomId(16);
  return id.ok() ? *id : "unavailable";
}

ScopedRequestId::ScopedRequestId(std::string id) : previous_(std::move(t_request_id)) {
  t_request_id = std::move(id);
}

ScopedRequestId::ScopedRequestId(grpc::ServerContext* ctx) : previous_(std::move(t_request_id)) {
  std::string id;
  auto& md = ctx->client_metadata();
  auto it = md.find(kRequestIdHeader);
  if (it != md.end()) {
    std::string_view v(it->second.data(), it->second.size());
    if (Sane(v)) id = std::string(v);
  }
  if (id.empty()) id = NewRequestId();
  ctx->AddInitialMetadata(kRequestIdHeader, id);
  t_request_id = std::move(id);
}

ScopedRequestId::~ScopedRequestId() { t_request_id = std::move(previous_); }

void AttachRequestId(grpc::ClientContext* ctx) {
  ctx->AddMetadata(kRequestIdHeader, t_request_id.empty() ? NewRequestId() : t_request_id);
}

}  // namespace clawos
