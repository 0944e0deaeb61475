#include "common/grpc_generic.h"

#include <google/protobuf/dynamic_message.h>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"

namespace clawos {
namespace {

grpc::ByteBuffer ToBuffer(const google::protobuf::Message& m) {
  std::string bytes = m.SerializeAsString();
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

absl::Status FromBuffer(const grpc::ByteBuffer& buf, google::protobuf::Message* out) {
  std::vector<grpc::Slice> slices;
  if (!buf.Dump(&slices).ok()) return absl::InternalError("an unreadable gRPC message");
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  if (!out->ParseFromString(bytes)) {
    return absl::InternalError(
        absl::StrCat("the daemon's answer is not a valid ", out->GetDescriptor()->name()));
  }
  return absl::OkStatus();
}

void Drain(grpc::CompletionQueue& cq) {
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
}

}  // namespace

std::string MethodPath(const google::protobuf::MethodDescriptor* m) {
  return absl::StrCat("/", m->service()->full_name(), "/", m->name());
}

std::unique_ptr<google::protobuf::Message> NewMessage(const google::protobuf::Descriptor* d) {
  const google::protobuf::Message* proto =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(d);
  if (proto) return std::unique_ptr<google::protobuf::Message>(proto->New());
  static google::protobuf::DynamicMessageFactory dynamic;
  return std::unique_ptr<google::protobuf::Message>(dynamic.GetPrototype(d)->New());
}

absl::Status CallUnary(const std::shared_ptr<grpc::Channel>& channel,
                       const google::protobuf::MethodDescriptor* method, grpc::ClientContext* ctx,
                       const google::protobuf::Message& request,
                       google::protobuf::Message* response) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ByteBuffer req = ToBuffer(request), resp;
  grpc::Status status;
  auto rpc = stub.PrepareUnaryCall(ctx, MethodPath(method), req, &cq);
  rpc->StartCall();
  int tag = 0;
  rpc->Finish(&resp, &status, &tag);
  void* got;
  bool ok = false;
  cq.Next(&got, &ok);
  Drain(cq);
  if (!status.ok()) return FromGrpcStatus(status);
  return FromBuffer(resp, response);
}

absl::Status CallClientStream(
    const std::shared_ptr<grpc::Channel>& channel, const google::protobuf::MethodDescriptor* method,
    grpc::ClientContext* ctx,
    const std::function<absl::StatusOr<bool>(google::protobuf::Message*)>& next,
    google::protobuf::Message* response) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  auto call = stub.PrepareCall(ctx, MethodPath(method), &cq);
  auto pump = [&cq](void* tag) {
    void* got = nullptr;
    bool ok = false;
    while (cq.Next(&got, &ok)) {
      if (got == tag) return ok;
    }
    return false;
  };
  int tag = 0;
  call->StartCall(&tag);
  bool open = pump(&tag);
  absl::Status failed;
  auto msg = NewMessage(method->input_type());
  while (open) {
    msg->Clear();
    absl::StatusOr<bool> more = next(msg.get());
    if (!more.ok()) {
      failed = more.status();
      ctx->TryCancel();
      break;
    }
    if (!*more) {
      call->WritesDone(&tag);
      pump(&tag);
      break;
    }
    call->Write(ToBuffer(*msg), &tag);
    open = pump(&tag);  // false: the call ended early; Finish says why
  }
  grpc::ByteBuffer resp;
  bool got_response = false;
  if (failed.ok()) {
    call->Read(&resp, &tag);
    got_response = pump(&tag);
  }
  grpc::Status st;
  call->Finish(&st, &tag);
  pump(&tag);
  Drain(cq);
  if (!failed.ok()) return failed;
  if (!st.ok()) return FromGrpcStatus(st);
  if (!got_response) return absl::InternalError("the daemon sent no answer");
  return FromBuffer(resp, response);
}

ServerStream::ServerStream(const std::shared_ptr<grpc::Channel>& channel,
                           const google::protobuf::MethodDescriptor* method,
                           grpc::ClientContext* ctx, const google::protobuf::Message& request)
    : ctx_(ctx) {
  grpc::GenericStub stub(channel);
  call_ = stub.PrepareCall(ctx, MethodPath(method), &cq_);
  int tag = 0;
  call_->StartCall(&tag);
  started_ = Pump(&tag);
  if (!started_) {
    ended_ = true;
    return;
  }
  grpc::ByteBuffer req = ToBuffer(request);
  call_->WriteLast(req, grpc::WriteOptions(), &tag);
  // A failed write means the call already ended: Next and Finish tell.
  Pump(&tag);
}

ServerStream::~ServerStream() {
  if (!finished_) {
    ctx_->TryCancel();
    Finish();
  }
  Drain(cq_);
}

bool ServerStream::Pump(void* tag) {
  void* got = nullptr;
  bool ok = false;
  while (cq_.Next(&got, &ok)) {
    if (got == tag) return ok;
  }
  return false;
}

bool ServerStream::WaitAccepted() {
  if (headers_read_ || ended_) return false;
  headers_read_ = true;
  int tag = 0;
  call_->ReadInitialMetadata(&tag);
  if (!Pump(&tag)) return false;
  const auto& md = ctx_->GetServerInitialMetadata();
  return md.find(kStreamAcceptedKey) != md.end();
}

bool ServerStream::Next(google::protobuf::Message* out) {
  if (ended_) return false;
  grpc::ByteBuffer buf;
  int tag = 0;
  call_->Read(&buf, &tag);
  if (!Pump(&tag)) {
    ended_ = true;
    return false;
  }
  out->Clear();
  if (absl::Status s = FromBuffer(buf, out); !s.ok()) {
    ctx_->TryCancel();
    ended_ = true;
    Finish();
    status_ = s;
    return false;
  }
  return true;
}

absl::Status ServerStream::Finish() {
  if (finished_) return status_;
  finished_ = true;
  if (!started_) {
    status_ = absl::UnavailableError("the stream could not start");
    return status_;
  }
  grpc::Status st;
  int tag = 0;
  call_->Finish(&st, &tag);
  Pump(&tag);
  status_ = FromGrpcStatus(st);
  return status_;
}

}  // namespace clawos
