#include "test/integration/reflection_client.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>

#include <chrono>

namespace clawos::testing {
namespace {

// Reads a protobuf varint at `p`; advances it.
uint64_t Varint(const std::string& s, size_t& p) {
  uint64_t v = 0;
  for (int shift = 0; p < s.size() && shift < 64; shift += 7) {
    uint8_t b = static_cast<uint8_t>(s[p++]);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) break;
  }
  return v;
}

// The length-delimited field `field` of message `s`, all occurrences.
std::vector<std::string> Fields(const std::string& s, uint32_t field) {
  std::vector<std::string> out;
  size_t p = 0;
  while (p < s.size()) {
    uint64_t key = Varint(s, p);
    uint32_t num = static_cast<uint32_t>(key >> 3), type = key & 7;
    if (type == 2) {
      uint64_t len = Varint(s, p);
      if (num == field) out.push_back(s.substr(p, len));
      p += len;
    } else if (type == 0) {
      Varint(s, p);
    } else if (type == 5) {
      p += 4;
    } else if (type == 1) {
      p += 8;
    } else {
      break;
    }
  }
  return out;
}

bool Next(grpc::CompletionQueue& cq) {
  void* tag = nullptr;
  bool ok = false;
  return cq.Next(&tag, &ok) && ok;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ReflectionListServices(
    std::shared_ptr<grpc::Channel> channel) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::CompletionQueue cq;
  auto call =
      stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  call->StartCall(reinterpret_cast<void*>(1));
  if (!Next(cq)) return absl::UnavailableError("reflection call did not start");
  // ServerReflectionRequest{list_services (7): ""}
  std::string req("\x3a\x00", 2);
  grpc::Slice slice(req);
  grpc::ByteBuffer buf(&slice, 1);
  call->Write(buf, reinterpret_cast<void*>(2));
  if (!Next(cq)) return absl::UnavailableError("reflection write failed");
  grpc::ByteBuffer reply;
  call->Read(&reply, reinterpret_cast<void*>(3));
  if (!Next(cq)) return absl::UnavailableError("reflection read failed");
  std::vector<grpc::Slice> slices;
  (void)reply.Dump(&slices);
  std::string bytes;
  for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  call->WritesDone(reinterpret_cast<void*>(4));
  Next(cq);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  Next(cq);
  // ServerReflectionResponse.list_services_response (6) → service (1) → name (1)
  std::vector<std::string> names;
  for (const auto& list : Fields(bytes, 6)) {
    for (const auto& svc : Fields(list, 1)) {
      auto n = Fields(svc, 1);
      if (!n.empty()) names.push_back(n[0]);
    }
  }
  return names;
}

}  // namespace clawos::testing
