#include "bench/proxy/load.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cmath>
#include <thread>

namespace clawos::bench {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using Clock = std::chrono::steady_clock;

// One keep-alive connection; reconnects when the server closes it.
class Client {
 public:
  explicit Client(const Target& t) : stream_(ioc_) {
    req_.method(t.body.empty() ? http::verb::get : http::verb::post);
    req_.target(t.path);
    req_.version(11);
    req_.set(http::field::host, "127.0.0.1");
    req_.set(http::field::content_type, "application/json");
    for (const auto& [k, v] : t.headers) req_.set(k, v);
    req_.body() = t.body;
    req_.prepare_payload();
    endpoint_ = {net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(t.port)};
  }

  // The answer's status, or -1 when the exchange failed.
  int Call() {
    beast::error_code ec;
    if (!connected_) {
      stream_.socket().close(ec);
      stream_.connect(endpoint_, ec);
      if (ec) return -1;
      stream_.socket().set_option(net::ip::tcp::no_delay(true), ec);
      connected_ = true;
      buffer_.clear();
    }
    http::write(stream_, req_, ec);
    if (ec) return Broken();
    http::response<http::string_body> res;
    http::read(stream_, buffer_, res, ec);
    if (ec) return Broken();
    if (!res.keep_alive()) connected_ = false;
    return res.result_int();
  }

 private:
  int Broken() {
    connected_ = false;
    return -1;
  }
  net::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  net::ip::tcp::endpoint endpoint_;
  bool connected_ = false;
};

}  // namespace

double LatencyResult::Percentile(double p) const {
  if (micros.empty()) return 0;
  size_t i = static_cast<size_t>(std::ceil(p / 100.0 * micros.size())) - 1;
  return micros[std::min(i, micros.size() - 1)];
}

LatencyResult MeasureLatency(const Target& t, int n, int warmup) {
  LatencyResult r;
  Client c(t);
  for (int i = 0; i < warmup; ++i) r.errors += c.Call() != 200;
  r.micros.reserve(n);
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    int status = c.Call();
    double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    if (status == 200) {
      r.micros.push_back(us);
    } else {
      ++r.errors;
    }
  }
  std::sort(r.micros.begin(), r.micros.end());
  return r;
}

ThroughputResult MeasureThroughput(const Target& t, int connections, double seconds) {
  std::atomic<long> answered{0};
  std::atomic<int> errors{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  auto t0 = Clock::now();
  for (int i = 0; i < connections; ++i) {
    threads.emplace_back([&] {
      Client c(t);
      while (!stop.load(std::memory_order_relaxed)) {
        if (c.Call() == 200) {
          answered.fetch_add(1, std::memory_order_relaxed);
        } else {
          errors.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : threads) th.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  return {answered / elapsed, answered.load(), errors.load()};
}

}  // namespace clawos::bench
