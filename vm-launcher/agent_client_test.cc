// The launcher's end of the agent channel against a hostile guest: a test
// plays the guest on a real Unix socket with real frames (what a real guest
// cannot send from inside a VM: unsolicited pongs, stream-id games, floods on
// a stream nobody reads) and checks that what the launcher holds stays bounded.
#include "vm-launcher/agent_client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "agent/frame.h"
#include "common/testing/eventually.h"
#include "common/testing/temp_dir.h"
#include "vm-launcher/testing/fake_guest.h"

namespace clawos::launcher {
namespace {

using testing::Eventually;
using testing::FakeGuest;

apb::Frame Pong(uint64_t nonce) {
  apb::Frame f;
  f.mutable_pong()->set_nonce(nonce);
  return f;
}

apb::Frame GuestOpen(uint64_t id) {
  apb::Frame f;
  f.set_stream_id(id);
  f.mutable_inference_request()->set_method("POST");
  f.mutable_inference_request()->set_path("/v1/chat/completions");
  return f;
}

struct Channel {
  clawos::testing::TempDir dir;
  std::unique_ptr<FakeGuest> guest;
  std::unique_ptr<AgentClient> client;
  // Guest streams' handlers hold their thread until `release` is set.
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> handled{0};

  explicit Channel(AgentClient::Options o = {}) {
    guest = std::make_unique<FakeGuest>(dir.Sub("agent.sock"));
    o.vm = "vms/hostile";
    o.on_guest_stream = [this](std::unique_ptr<AgentStream>, apb::Frame) {
      ++handled;
      std::unique_lock lock(mu);
      cv.wait(lock, [this] { return release; });
    };
    auto c = AgentClient::Connect(dir.Sub("agent.sock"), o, absl::Now() + absl::Seconds(20), {});
    EXPECT_TRUE(c.ok()) << c.status();
    if (c.ok()) client = std::move(*c);
  }
  ~Channel() {
    {
      std::lock_guard lock(mu);
      release = true;
    }
    cv.notify_all();
    Eventually([this] { return !client || client->guest_streams() == 0; }, absl::Seconds(10));
    client.reset();
    guest.reset();
  }
};

TEST(AgentClientTest, UnsolicitedPongsAreNeverKept) {
  Channel ch;
  ASSERT_TRUE(ch.client);
  for (uint64_t n = 1000; n < 21000; ++n) ch.guest->Send(Pong(n));
  auto real = ch.client->Ping(absl::Seconds(20));  // after the flood on the same channel
  ASSERT_TRUE(real.ok()) << real.status();
  EXPECT_EQ(ch.client->pending_pongs(), 0u) << "20000 pongs nobody asked for";
  // A ping sent without waiting keeps only its own pong until taken.
  auto nonce = ch.client->SendPing();
  ASSERT_TRUE(nonce.ok());
  std::optional<apb::Pong> pong;
  EXPECT_TRUE(Eventually([&] { return (pong = ch.client->TakePong(*nonce)).has_value(); }));
  EXPECT_EQ(pong->nonce(), *nonce);
  EXPECT_EQ(ch.client->pending_pongs(), 0u);
}

TEST(AgentClientTest, AFrameThatDoesNotParseIsSkippedNotFatal) {
  Channel ch;
  ASSERT_TRUE(ch.client);
  // A valid length, then bytes that are no Frame (a truncated varint), and a
  // Hello whose string is invalid UTF-8 (proto3 refuses it on parse).
  std::string junk = std::string("\0\0\0\x04", 4) + "\xff\xff\xff\xff";
  apb::Frame bad;
  bad.mutable_log_line()->set_text("ok");
  std::string body = bad.SerializeAsString();
  body.back() = '\xff';  // the text's last byte
  std::string framed = agent::EncodeFrame(bad);
  framed.replace(4, std::string::npos, body);
  ch.guest->SendRaw(junk + framed);
  auto pong = ch.client->Ping(absl::Seconds(20));
  EXPECT_TRUE(pong.ok()) << pong.status();
  EXPECT_TRUE(ch.client->connected());
  EXPECT_EQ(ch.client->skipped_frames(), 2);
  // A length outside the bounds still ends the channel: the framing is lost.
  ch.guest->SendRaw(std::string("\x7f\xff\xff\xff", 4));
  EXPECT_TRUE(Eventually([&] { return !ch.client->connected(); }));
}

TEST(AgentClientTest, AGuestThatDoesNotReadNeverMakesAPingWait) {
  Channel ch;
  ASSERT_TRUE(ch.client);
  ch.guest->reading = false;
  ch.guest->answer_pings = false;
  // Fill the channel: sends give up at once when the socket is full, never block.
  int refused = 0;
  for (int i = 0; i < 200000 && refused == 0; ++i) {
    absl::Time start = absl::Now();
    auto s = ch.client->SendPing();
    EXPECT_LT(absl::Now() - start, absl::Seconds(2));
    if (!s.ok()) ++refused;
  }
  EXPECT_EQ(refused, 1) << "the full socket was noticed";
  EXPECT_TRUE(ch.client->connected()) << "a full socket alone does not drop the channel";
  EXPECT_LE(ch.client->pending_pongs(), 200000u);
  ch.guest->reading = true;
}

TEST(AgentClientTest, GuestStreamsAreCappedPerVm) {
  AgentClient::Options o;
  o.max_guest_streams = 4;
  Channel ch(o);
  ASSERT_TRUE(ch.client);
  for (uint64_t id = 2; id <= 40; id += 2) ch.guest->Send(GuestOpen(id));
  EXPECT_TRUE(Eventually([&] {
    return ch.guest->ErrorsWith(absl::StatusCode::kResourceExhausted) == 16;
  })) << ch.guest->ErrorsWith(absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(Eventually([&] { return ch.handled == 4; }));
  EXPECT_EQ(ch.client->guest_streams(), 4) << "four threads, not twenty";
  // Stream-id games: an old or odd id opens nothing.
  ch.guest->Send(GuestOpen(2));
  ch.guest->Send(GuestOpen(41));
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(ch.handled, 4);
  // Once the streams end, their places are free again.
  {
    std::lock_guard lock(ch.mu);
    ch.release = true;
  }
  ch.cv.notify_all();
  EXPECT_TRUE(Eventually([&] { return ch.client->guest_streams() == 0; }));
  ch.guest->Send(GuestOpen(42));
  EXPECT_TRUE(Eventually([&] { return ch.handled == 5; }));
}

TEST(AgentClientTest, GuestStreamsShareALauncherWideCap) {
  auto slots = std::make_shared<Slots>(3);
  AgentClient::Options o;
  o.guest_stream_slots = slots;
  Channel a(o), b(o);
  ASSERT_TRUE(a.client && b.client);
  for (uint64_t id = 2; id <= 8; id += 2) a.guest->Send(GuestOpen(id));
  EXPECT_TRUE(Eventually([&] { return a.handled == 3; }));
  b.guest->Send(GuestOpen(2));
  EXPECT_TRUE(
      Eventually([&] { return b.guest->ErrorsWith(absl::StatusCode::kResourceExhausted) == 1; }));
  EXPECT_EQ(slots->used(), 3);
  EXPECT_EQ(b.handled, 0);
}

TEST(AgentClientTest, UnreadFramesAreBoundedPerChannel) {
  AgentClient::Options o;
  o.max_queued_bytes = 2 << 20;
  Channel ch(o);
  ASSERT_TRUE(ch.client);
  auto stream = ch.client->OpenStream();  // the host opens it and does not read yet
  apb::Frame chunk;
  chunk.set_stream_id(stream->id());
  chunk.mutable_exec_stdout()->set_data(std::string(256 << 10, 'x'));
  for (int i = 0; i < 64; ++i) ch.guest->Send(chunk);  // 16 MiB
  EXPECT_TRUE(Eventually([&] {
    for (const auto& f : ch.guest->Received()) {
      if (f.stream_id() == stream->id() && f.has_cancel()) return true;
    }
    return false;
  })) << "the guest is told to stop";
  EXPECT_LE(ch.client->queued_bytes(), size_t{2} << 20);
  // The reader gets what fit, then a clear error, never a hang.
  absl::Status end = absl::OkStatus();
  for (int i = 0; i < 100 && end.ok(); ++i) {
    auto f = stream->Next(absl::Now() + absl::Seconds(10));
    end = f.status();
  }
  EXPECT_EQ(end.code(), absl::StatusCode::kResourceExhausted) << end;
  EXPECT_TRUE(ch.client->Ping(absl::Seconds(20)).ok()) << "the channel itself goes on";
}

}  // namespace
}  // namespace clawos::launcher
