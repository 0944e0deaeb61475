// A connected TCP socket for Beast's synchronous reads and writes in which
// every operation gives up after a timeout. Asio's synchronous operations
// wait in poll() with no limit when the socket would block, so this class
// makes its own system calls:
//   - Every write, and every read without a BlockingReads, is tried first
//     (MSG_DONTWAIT) and waits in poll() only when it would block: a request
//     or an answer that is already there costs one system call, not two.
//   - With a BlockingReads (state kept per connection by its owner), reads
//     block in recvmsg() bounded by SO_RCVTIMEO, which is set only when the
//     wanted wait changes by much: waiting for the next request or for an
//     answer costs one system call instead of poll() and recv().
// An optional deadline bounds a whole exchange (a request's head and body),
// so a client that trickles a byte a timeout cannot hold a connection
// forever; a blocking read that ends before the deadline and the timeout
// waits again, one whose SO_RCVTIMEO would pass the deadline by more than a
// tenth is shortened first. Satisfies Beast's SyncReadStream and
// SyncWriteStream.
#pragma once

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/system_error.hpp>
#include <cerrno>
#include <chrono>
#include <optional>

namespace clawos::http {

// What a connection's socket was set to for blocking reads: kept by the
// connection's owner across the TimedSockets made on it.
struct BlockingReads {
  int rcvtimeo_ms = -1;  // -1: the socket is not set up for blocking reads yet
};

class TimedSocket {
 public:
  using executor_type = boost::asio::ip::tcp::socket::executor_type;
  using Clock = std::chrono::steady_clock;

  TimedSocket(boost::asio::ip::tcp::socket& s, int timeout_ms, BlockingReads* blocking = nullptr)
      : s_(s), fd_(s.native_handle()), timeout_ms_(timeout_ms), blocking_(blocking) {}
  executor_type get_executor() { return s_.get_executor(); }
  boost::asio::ip::tcp::socket& socket() { return s_; }
  // Every operation from now on also ends (timed_out) at `deadline`.
  void set_deadline(Clock::time_point deadline) { deadline_ = deadline; }
  void clear_deadline() { deadline_.reset(); }

  template <class Buffers>
  size_t read_some(const Buffers& b, boost::system::error_code& ec) {
    iovec iov[kMaxIov];
    int n = ToIov(b, iov);
    if (Expired(ec)) return 0;
    if (n == 0) return 0;
    if (blocking_) return BlockingRead(iov, n, ec);
    return Try(POLLIN, ec, [&] { return Recv(iov, n, MSG_DONTWAIT); });
  }
  template <class Buffers>
  size_t read_some(const Buffers& b) {
    return OrThrow([&](auto& ec) { return read_some(b, ec); });
  }
  template <class Buffers>
  size_t write_some(const Buffers& b, boost::system::error_code& ec) {
    iovec iov[kMaxIov];
    int n = ToIov(b, iov);
    if (Expired(ec)) return 0;
    if (n == 0) return 0;
    return Try(POLLOUT, ec, [&] { return Send(iov, n); });
  }
  template <class Buffers>
  size_t write_some(const Buffers& b) {
    return OrThrow([&](auto& ec) { return write_some(b, ec); });
  }

 private:
  static constexpr int kMaxIov = 16;

  // The first buffers of `b` (at most kMaxIov, empty ones skipped).
  template <class Buffers>
  static int ToIov(const Buffers& b, iovec* iov) {
    int n = 0;
    for (auto it = boost::asio::buffer_sequence_begin(b);
         it != boost::asio::buffer_sequence_end(b) && n < kMaxIov; ++it) {
      boost::asio::const_buffer buf(*it);
      if (buf.size() == 0) continue;
      iov[n].iov_base = const_cast<void*>(buf.data());
      iov[n].iov_len = buf.size();
      ++n;
    }
    return n;
  }
  // recvmsg/sendmsg: the count, or -1 with errno (EINTR retried).
  ssize_t Recv(iovec* iov, int n, int flags) {
    msghdr m{};
    m.msg_iov = iov;
    m.msg_iovlen = static_cast<size_t>(n);
    ssize_t r;
    do r = ::recvmsg(fd_, &m, flags);
    while (r < 0 && errno == EINTR);
    return r;
  }
  ssize_t Send(iovec* iov, int n) {
    msghdr m{};
    m.msg_iov = iov;
    m.msg_iovlen = static_cast<size_t>(n);
    ssize_t r;
    do r = ::sendmsg(fd_, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    return r;
  }
  // A read's or write's result as Asio reports it: 0 bytes read is eof.
  static size_t Result(ssize_t r, bool read, boost::system::error_code& ec) {
    if (r > 0) return static_cast<size_t>(r);
    if (r == 0) {
      if (read) ec = boost::asio::error::eof;
      return 0;
    }
    ec = boost::system::error_code(errno, boost::system::system_category());
    return 0;
  }
  // The throwing forms Beast's stream concepts ask for.
  template <class Op>
  static size_t OrThrow(Op op) {
    boost::system::error_code ec;
    size_t n = op(ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }
  // The operation now; when it would block, again once poll() says it can
  // go on (or timed_out).
  template <class Op>
  size_t Try(short events, boost::system::error_code& ec, Op op) {
    for (;;) {
      ec = {};
      ssize_t r = op();
      if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        return Result(r, events == POLLIN, ec);
      }
      if (!Wait(events, ec)) return 0;
    }
  }
  // A read that blocks in the kernel up to SO_RCVTIMEO, again while neither
  // the timeout nor the deadline has passed.
  size_t BlockingRead(iovec* iov, int n, boost::system::error_code& ec) {
    const auto end = Clock::now() + std::chrono::milliseconds(timeout_ms_);
    for (;;) {
      int wait_ms = WaitMs(end);
      if (wait_ms <= 0) {
        ec = boost::asio::error::timed_out;
        return 0;
      }
      if (!SetUp(wait_ms, ec)) return 0;
      ssize_t r = Recv(iov, n, 0);
      if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return Result(r, true, ec);
    }
  }
  // Milliseconds until `end` or the deadline, whichever is first.
  int WaitMs(Clock::time_point end) const {
    auto now = Clock::now();
    auto until = deadline_ && *deadline_ < end ? *deadline_ : end;
    return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(until - now).count());
  }
  // Blocking mode and an SO_RCVTIMEO near `wait_ms`: not past it by more than a
  // tenth (+10 ms), nor under half of it (too many early wake-ups).
  bool SetUp(int wait_ms, boost::system::error_code& ec) {
    int& applied = blocking_->rcvtimeo_ms;
    if (applied < 0) {
      int off = 0;
      if (::ioctl(fd_, FIONBIO, &off) != 0) return Fail(ec);
    }
    if (applied >= 0 && applied <= wait_ms + wait_ms / 10 + 10 && applied >= wait_ms / 2) {
      return true;
    }
    timeval tv{wait_ms / 1000, (wait_ms % 1000) * 1000};
    if (::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) return Fail(ec);
    applied = wait_ms;
    return true;
  }
  static bool Fail(boost::system::error_code& ec) {
    ec = boost::system::error_code(errno, boost::system::system_category());
    return false;
  }
  bool Expired(boost::system::error_code& ec) const {
    if (deadline_ && Clock::now() >= *deadline_) {
      ec = boost::asio::error::timed_out;
      return true;
    }
    return false;
  }
  bool Wait(short events, boost::system::error_code& ec) {
    pollfd p{fd_, events, 0};
    int r;
    do {
      int wait_ms = timeout_ms_;
      if (deadline_) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline_ - Clock::now()).count();
        if (left <= 0) {
          ec = boost::asio::error::timed_out;
          return false;
        }
        if (left < wait_ms) wait_ms = static_cast<int>(left);
      }
      r = ::poll(&p, 1, wait_ms);
    } while (r < 0 && errno == EINTR);
    if (r == 0) {
      ec = boost::asio::error::timed_out;
      return false;
    }
    if (r < 0) return Fail(ec);
    return true;
  }

  boost::asio::ip::tcp::socket& s_;
  int fd_;
  int timeout_ms_;
  BlockingReads* blocking_;
  std::optional<Clock::time_point> deadline_;
};

}  // namespace clawos::http
