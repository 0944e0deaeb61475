// A connected TCP socket for Beast's synchronous reads and writes in which
// every operation gives up after a timeout. Asio's synchronous operations
// wait in poll() with no limit when the socket would block, so SO_RCVTIMEO
// and SO_SNDTIMEO do not bound them; this waits in poll() with the limit
// first. The socket is put in non-blocking mode and every operation is
// tried first, waiting in poll() only when it would block: a request or an
// answer that is already there costs one system call, not two. An optional
// deadline bounds a whole exchange (a request's head and body), so a client
// that trickles a byte a timeout cannot hold a connection forever.
// Satisfies Beast's SyncReadStream and SyncWriteStream.
#pragma once

#include <poll.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/system/system_error.hpp>
#include <cerrno>
#include <chrono>
#include <optional>

namespace clawos::http {

class TimedSocket {
 public:
  using executor_type = boost::asio::ip::tcp::socket::executor_type;

  TimedSocket(boost::asio::ip::tcp::socket& s, int timeout_ms) : s_(s), timeout_ms_(timeout_ms) {
    boost::system::error_code ec;
    if (!s_.non_blocking()) s_.non_blocking(true, ec);
  }
  executor_type get_executor() { return s_.get_executor(); }
  boost::asio::ip::tcp::socket& socket() { return s_; }
  // Every operation from now on also ends (timed_out) at `deadline`.
  void set_deadline(std::chrono::steady_clock::time_point deadline) { deadline_ = deadline; }
  void clear_deadline() { deadline_.reset(); }
  // The next read waits in poll() first, without trying: for a read that
  // cannot have data yet (the answer to what was just sent, the next request
  // on a kept-alive connection), which saves a system call.
  void wait_before_next_read() { wait_first_ = true; }

  template <class Buffers>
  size_t read_some(const Buffers& b, boost::system::error_code& ec) {
    if (wait_first_) {
      wait_first_ = false;
      if (Expired(ec) || !Wait(POLLIN, ec)) return 0;
    }
    return Try(POLLIN, ec, [&] { return s_.read_some(b, ec); });
  }
  template <class Buffers>
  size_t read_some(const Buffers& b) {
    return OrThrow([&](auto& ec) { return read_some(b, ec); });
  }
  template <class Buffers>
  size_t write_some(const Buffers& b, boost::system::error_code& ec) {
    return Try(POLLOUT, ec, [&] { return s_.write_some(b, ec); });
  }
  template <class Buffers>
  size_t write_some(const Buffers& b) {
    return OrThrow([&](auto& ec) { return write_some(b, ec); });
  }

 private:
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
    if (Expired(ec)) return 0;
    for (;;) {
      ec = {};
      size_t n = op();
      if (ec != boost::asio::error::would_block && ec != boost::asio::error::try_again) return n;
      if (!Wait(events, ec)) return 0;
    }
  }
  bool Expired(boost::system::error_code& ec) const {
    if (deadline_ && std::chrono::steady_clock::now() >= *deadline_) {
      ec = boost::asio::error::timed_out;
      return true;
    }
    return false;
  }
  bool Wait(short events, boost::system::error_code& ec) {
    pollfd p{s_.native_handle(), events, 0};
    int r;
    do {
      int wait_ms = timeout_ms_;
      if (deadline_) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        *deadline_ - std::chrono::steady_clock::now())
                        .count();
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
    if (r < 0) {
      ec = boost::system::error_code(errno, boost::system::system_category());
      return false;
    }
    return true;
  }

  boost::asio::ip::tcp::socket& s_;
  int timeout_ms_;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  bool wait_first_ = false;
};

}  // namespace clawos::http
