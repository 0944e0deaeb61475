#include "vm-launcher/testing/fake_guest.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>

#include "absl/time/clock.h"

namespace clawos::testing {

FakeGuest::FakeGuest(const std::string& path) {
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path.c_str());
  EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0) << path;
  EXPECT_EQ(::listen(listen_fd_, 4), 0);
  thread_ = std::thread([this] { Serve(); });
}

FakeGuest::~FakeGuest() {
  quit_ = true;  // before live_fd_ is read: Serve sets live_fd_, then reads quit_
  if (int fd = live_fd_.load(); fd >= 0) ::shutdown(fd, SHUT_RDWR);  // no lock: a write may hold it
  ::shutdown(listen_fd_, SHUT_RDWR);
  thread_.join();
  ::close(listen_fd_);
}

void FakeGuest::Send(const apb::Frame& f) { SendRaw(agent::EncodeFrame(f)); }

void FakeGuest::SendRaw(const std::string& bytes) {
  std::lock_guard lock(write_mu_);
  if (fd_ < 0) {
    ADD_FAILURE() << "FakeGuest: nothing is connected to send to";
    return;
  }
  EXPECT_TRUE(agent::WriteAll(fd_, bytes));
}

std::vector<apb::Frame> FakeGuest::Received() {
  std::lock_guard lock(mu_);
  return got_;
}

int FakeGuest::ErrorsWith(absl::StatusCode code) {
  int n = 0;
  for (const auto& f : Received()) n += f.has_error() && f.error().code() == static_cast<int>(code);
  return n;
}

void FakeGuest::Serve() {
  while (!quit_) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    live_fd_ = fd;
    if (quit_) {  // the destructor may have missed this connection
      live_fd_ = -1;
      ::close(fd);
      return;
    }
    {
      std::lock_guard lock(write_mu_);
      fd_ = fd;
    }
    ++connections_;
    ServeOne(fd);
    live_fd_ = -1;
    std::lock_guard lock(write_mu_);
    ::close(fd_);
    fd_ = -1;
  }
}

void FakeGuest::ServeOne(int fd) {
  if (say_hello) {
    apb::Frame hello;
    hello.mutable_hello()->set_protocol_version(1);
    hello.mutable_hello()->set_agent_version("test");
    Send(hello);
  }
  agent::FrameReader reader;
  std::vector<char> buf(64 << 10);
  for (;;) {
    apb::Frame f;
    std::string error;
    auto r = reader.Next(&f, &error);
    if (r == agent::FrameReader::Result::kError) return;
    if (r == agent::FrameReader::Result::kNeedMore) {
      while (!reading && !quit_) absl::SleepFor(absl::Milliseconds(10));
      ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n <= 0) return;
      reader.Feed(buf.data(), static_cast<size_t>(n));
      continue;
    }
    if (f.has_welcome()) {
      apb::Frame ready;
      ready.mutable_ready();
      Send(ready);
    }
    if (f.has_ping() && answer_pings) {
      apb::Frame pong;
      pong.mutable_pong()->set_nonce(f.ping().nonce());
      Send(pong);
    }
    if (f.has_shutdown()) shutdown_asked_ = true;
    std::lock_guard lock(mu_);
    got_.push_back(std::move(f));
  }
}

}  // namespace clawos::testing
