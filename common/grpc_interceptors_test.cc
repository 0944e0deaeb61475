// The interceptors of every daemon, on a real gRPC server with a service
// from the protos (the monitor's): the trusted-transport check happens
// before the handler, the request id reaches the handler and comes back,
// metrics count the refusals.
#include "common/grpc_interceptors.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "clawos/monitor/v1/monitor.grpc.pb.h"
#include "common/grpc_server.h"
#include "common/metrics.h"
#include "common/request_id.h"
#include "common/testing/temp_dir.h"

namespace clawos {
namespace {

namespace mpb = ::clawos::monitor::v1;

// Counts its calls; answers with the request id it saw.
class CountingMonitor final : public mpb::MonitorService::Service {
 public:
  std::atomic<int> calls{0};

  grpc::Status CreateTarget(grpc::ServerContext*, const mpb::CreateTargetRequest* req,
                            mpb::Target* resp) override {
    ++calls;
    resp->set_name(CurrentRequestId());
    resp->set_vm(req->vm());
    return grpc::Status::OK;
  }
  grpc::Status GetTarget(grpc::ServerContext*, const mpb::GetTargetRequest*,
                         mpb::Target* resp) override {
    ++calls;
    resp->set_name(CurrentRequestId());
    return grpc::Status::OK;
  }
  grpc::Status StreamEvents(grpc::ServerContext*, const mpb::StreamEventsRequest*,
                            grpc::ServerWriter<mpb::Event>* w) override {
    ++calls;
    w->Write(mpb::Event());
    return grpc::Status::OK;
  }
};

class InterceptorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = Metrics::Start("off");
    ASSERT_TRUE(m.ok()) << m.status();
    metrics_ = std::move(*m);
    ServerOptions o;
    o.listen = {"unix:" + dir_.Sub("m.sock"), "127.0.0.1:0"};
    auto s = GrpcServer::Start(o, {Serve<mpb::MonitorService>(&impl_)}, metrics_.get());
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    unix_ = mpb::MonitorService::NewStub(
        grpc::CreateChannel(server_->bound()[0], grpc::InsecureChannelCredentials()));
    tcp_channel_ = grpc::CreateChannel(server_->bound()[1], grpc::InsecureChannelCredentials());
    tcp_ = mpb::MonitorService::NewStub(tcp_channel_);
  }

  testing::TempDir dir_;
  CountingMonitor impl_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<GrpcServer> server_;
  std::unique_ptr<mpb::MonitorService::Stub> unix_;
  std::shared_ptr<grpc::Channel> tcp_channel_;
  std::unique_ptr<mpb::MonitorService::Stub> tcp_;
};

TEST_F(InterceptorsTest, TrustedOnlyMethodsRefusePlainTcpBeforeTheHandler) {
  grpc::ClientContext c1;
  mpb::CreateTargetRequest req;
  req.set_vm("vms/a");
  mpb::Target t;
  grpc::Status st = tcp_->CreateTarget(&c1, req, &t);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(st.error_message(),
            "CreateTarget needs a trusted transport: call over the daemon's unix socket or over "
            "TLS with a client certificate (mTLS)");
  // The refusal still carries the request id.
  EXPECT_EQ(c1.GetServerInitialMetadata().count(kRequestIdHeader), 1u);

  grpc::ClientContext c2;
  auto reader = tcp_->StreamEvents(&c2, mpb::StreamEventsRequest());
  mpb::Event e;
  EXPECT_FALSE(reader->Read(&e));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(impl_.calls.load(), 0);

  // A method without the option is served to anyone.
  grpc::ClientContext c3;
  EXPECT_TRUE(tcp_->GetTarget(&c3, mpb::GetTargetRequest(), &t).ok());
  EXPECT_EQ(impl_.calls.load(), 1);

  // The unix socket is trusted.
  grpc::ClientContext c4;
  ASSERT_TRUE(unix_->CreateTarget(&c4, req, &t).ok());
  EXPECT_EQ(t.vm(), "vms/a");
  EXPECT_EQ(impl_.calls.load(), 2);

  std::string text = metrics_->Text();
  EXPECT_NE(text.find("grpc_code=\"PERMISSION_DENIED\",grpc_method=\"/clawos.monitor.v1."
                      "MonitorService/CreateTarget\"} 1"),
            std::string::npos)
      << text;
}

TEST_F(InterceptorsTest, RequestIdIsTakenOrMadeAndEchoed) {
  grpc::ClientContext given;
  given.AddMetadata(kRequestIdHeader, "req-42");
  mpb::Target t;
  ASSERT_TRUE(unix_->GetTarget(&given, mpb::GetTargetRequest(), &t).ok());
  EXPECT_EQ(t.name(), "req-42");
  auto echoed = given.GetServerInitialMetadata().find(kRequestIdHeader);
  ASSERT_NE(echoed, given.GetServerInitialMetadata().end());
  EXPECT_EQ(std::string(echoed->second.data(), echoed->second.size()), "req-42");

  // A hostile id (control bytes) is replaced by a fresh one, seen by both.
  grpc::ClientContext bad;
  bad.AddMetadata(kRequestIdHeader, std::string(200, 'x'));
  ASSERT_TRUE(unix_->GetTarget(&bad, mpb::GetTargetRequest(), &t).ok());
  auto made = bad.GetServerInitialMetadata().find(kRequestIdHeader);
  ASSERT_NE(made, bad.GetServerInitialMetadata().end());
  EXPECT_EQ(std::string(made->second.data(), made->second.size()), t.name());
  EXPECT_FALSE(t.name().empty());
  EXPECT_NE(t.name(), std::string(200, 'x'));
  // Outside a call the thread has none.
  EXPECT_EQ(CurrentRequestId(), "");
}

TEST_F(InterceptorsTest, UnparsableRequestToTrustedMethodIsRefusedWithoutCrash) {
  grpc::GenericStub generic(tcp_channel_);
  for (const char* method : {"/clawos.monitor.v1.MonitorService/CreateTarget",
                             "/clawos.monitor.v1.MonitorService/GetTarget"}) {
    grpc::ClientContext c;
    grpc::Slice junk(std::string("\xff\xff\xff\xff\x0f", 5));
    grpc::ByteBuffer req(&junk, 1), resp;
    grpc::CompletionQueue cq;
    auto call = generic.PrepareUnaryCall(&c, method, req, &cq);
    call->StartCall();
    grpc::Status st;
    call->Finish(&resp, &st, &c);
    void* tag = nullptr;
    bool ok = false;
    ASSERT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(tag, &c);
    EXPECT_NE(st.error_code(), grpc::StatusCode::OK) << method;
  }
  EXPECT_EQ(impl_.calls.load(), 0);
}

TEST(GuardedServicesTest, UnknownServiceIsAnError) {
  CountingMonitor impl;
  auto g = GuardedServices({{&impl, "clawos.nothing.v1.Nope"}});
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace clawos
