// CEF over RFC 5424 syslog to a SIEM: UDP (a datagram per message), TCP and
// TLS (octet counting). One sender thread; events wait in a bounded queue
// while the SIEM is unreachable and are sent when it is back (reconnecting
// with backoff); when the queue is full the newest are dropped and counted.
// Before each write on TCP/TLS the socket is checked for the peer's close,
// so a SIEM that went away is noticed before a message is written into the
// void. TLS verifies the server's certificate (CA file or the system store)
// and host name; a client certificate is optional.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clawos/monitor/v1/monitor.pb.h"

namespace clawos::monitor {

struct SiemConfig {
  enum class Transport { kUdp, kTcp, kTls };
  Transport transport = Transport::kUdp;
  std::string host;
  int port = 0;
  std::string ca_file;    // TLS: trust anchors; empty: the system store
  std::string cert_file;  // TLS: optional client certificate and key
  std::string key_file;
  size_t max_queue = 10000;
  absl::Duration reconnect_min = absl::Milliseconds(100);
  absl::Duration reconnect_max = absl::Seconds(5);
};

// "udp://host:port", "tcp://host:port", "tls://host:port".
absl::StatusOr<SiemConfig> ParseSiemUrl(const std::string& url);

class SiemSink {
 public:
  static absl::StatusOr<std::unique_ptr<SiemSink>> Start(SiemConfig config, std::string hostname);
  ~SiemSink();
  SiemSink(const SiemSink&) = delete;

  // Formats (CEF in RFC 5424) and queues; never blocks.
  void Send(const ::clawos::monitor::v1::Event& event);
  // Waits up to `timeout` for the queue to empty; true if it did.
  bool Drain(absl::Duration timeout);
  ::clawos::monitor::v1::Sink Status() const;

 private:
  explicit SiemSink(SiemConfig config, std::string hostname);
  void Run();
  struct Conn;

  SiemConfig config_;
  std::string hostname_;
  mutable std::mutex mu_;
  std::condition_variable wake_, drained_;
  std::deque<std::string> queue_;  // framed messages
  bool stop_ = false;
  bool connected_ = false;
  bool sending_ = false;
  uint64_t written_ = 0, dropped_ = 0, bytes_ = 0;
  absl::Time last_write_ = absl::InfinitePast();
  std::string last_error_;
  absl::Time last_error_time_ = absl::InfinitePast();
  std::thread thread_;
};

}  // namespace clawos::monitor
