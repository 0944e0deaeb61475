// Calls any gRPC method by its descriptor, with messages made from the
// descriptors (no generated stub): the control plane's transcoder and the
// CLI's one client call every method this way. Blocking; one completion
// queue per call. A server stream is read one message at a time, so a slow
// reader slows the daemon's writes (flow control), never buffers.
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace clawos {

// The initial-metadata key a streaming handler sends once it accepted the
// call (AcceptStream): a client then knows the stream is open before its
// first message, which may be long in coming (a VM's quiet log).
inline constexpr char kStreamAcceptedKey[] = "x-clawos-stream";

// Server side: marks the stream accepted and sends the headers now.
template <typename Writer>
void AcceptStream(grpc::ServerContext* ctx, Writer* writer) {
  ctx->AddInitialMetadata(kStreamAcceptedKey, "open");
  writer->SendInitialMetadata();
}

// "/package.Service/Method"
std::string MethodPath(const google::protobuf::MethodDescriptor* m);

// A new, empty message of the method's input or output type.
std::unique_ptr<google::protobuf::Message> NewMessage(const google::protobuf::Descriptor* d);

absl::Status CallUnary(const std::shared_ptr<grpc::Channel>& channel,
                       const google::protobuf::MethodDescriptor* method, grpc::ClientContext* ctx,
                       const google::protobuf::Message& request,
                       google::protobuf::Message* response);

// A client stream: `next` fills each request message in turn and says
// whether there was one (false: the stream is complete; an error cancels
// the call and is returned). The one response goes to `response`.
absl::Status CallClientStream(
    const std::shared_ptr<grpc::Channel>& channel, const google::protobuf::MethodDescriptor* method,
    grpc::ClientContext* ctx,
    const std::function<absl::StatusOr<bool>(google::protobuf::Message*)>& next,
    google::protobuf::Message* response);

class ServerStream {
 public:
  // Starts the call and sends the request.
  ServerStream(const std::shared_ptr<grpc::Channel>& channel,
               const google::protobuf::MethodDescriptor* method, grpc::ClientContext* ctx,
               const google::protobuf::Message& request);
  ~ServerStream();
  ServerStream(const ServerStream&) = delete;

  // Waits for the server's headers: true when the handler accepted the
  // stream (AcceptStream). False for a handler that does not say so, or a
  // call that failed at once (Next then returns false; Finish says why).
  bool WaitAccepted();
  // The next message; false at the end of the stream (Finish says how).
  bool Next(google::protobuf::Message* out);
  // The call's status, once Next returned false (or after cancelling).
  absl::Status Finish();

 private:
  bool Pump(void* tag);  // waits for `tag`; its ok

  grpc::ClientContext* ctx_;
  grpc::CompletionQueue cq_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call_;
  bool started_ = false;
  bool headers_read_ = false;
  bool ended_ = false;
  bool finished_ = false;
  absl::Status status_;
};

}  // namespace clawos
