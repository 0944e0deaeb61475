#include "common/request_id.h"

#include "common/crypto/random.h"

namespace clawos {
namespace {

thread_local std::string t_request_id;

}  // namespace

const std::string& CurrentRequestId() { return t_request_id; }

std::string NewRequestId() {
  auto id = crypto::RandomId(16);
  return id.ok() ? *id : "unavailable";
}

ScopedRequestId::ScopedRequestId(std::string id) : previous_(std::move(t_request_id)) {
  t_request_id = std::move(id);
}

ScopedRequestId::~ScopedRequestId() { t_request_id = std::move(previous_); }

}  // namespace clawos
