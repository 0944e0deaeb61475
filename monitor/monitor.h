// The monitor's core, without gRPC: targets (kernel filter + targets.db),
// the policy applied per target, a reader thread draining the ring buffer
// (decode → policy → sequence → sinks and live streams), stats, and the LLM
// request ids the launcher reports.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "clawos/monitor/v1/monitor.pb.h"
#include "common/event_hub.h"
#include "monitor/bpf_monitor.h"
#include "monitor/event_filter.h"
#include "monitor/jsonl_sink.h"
#include "monitor/policy.h"
#include "monitor/siem_sink.h"
#include "monitor/target_store.h"

namespace clawos::monitor {

struct MonitorOptions {
  std::string state_dir;    // targets.db
  std::string events_path;  // JSONL; empty: none
  std::optional<SiemConfig> siem;
  std::string hostname;  // dvchost and the syslog HOSTNAME
  Policy policy = Policy::Default();
  uint64_t wakeup_bytes = 256 << 10;
  bool generic_exit = false;  // see BpfMonitor::Options
  absl::Duration max_poll_wait = absl::Milliseconds(50);
};

class Monitor {
 public:
  // Loads and attaches the BPF programs (PERMISSION_DENIED without root),
  // restores the targets of targets.db and starts reading events.
  static absl::StatusOr<std::unique_ptr<Monitor>> Open(MonitorOptions options);
  ~Monitor();

  absl::StatusOr<::clawos::monitor::v1::Target> CreateTarget(
      const ::clawos::monitor::v1::CreateTargetRequest& request);
  absl::StatusOr<::clawos::monitor::v1::Target> GetTarget(const std::string& name);
  std::vector<::clawos::monitor::v1::Target> ListTargets();
  absl::Status DeleteTarget(const std::string& name);

  absl::StatusOr<::clawos::monitor::v1::Stats> GetStats(const std::vector<std::string>& names);
  std::vector<::clawos::monitor::v1::Sink> Sinks();

  // Events from now on that match `filter`, each given to `write` (false:
  // the client is gone), until `cancelled` or the monitor closes. A reader
  // slower than the events loses the oldest (the hub's rule): the next event
  // it gets says how many in `dropped_before`, and GetStats counts them.
  absl::Status Watch(const ::clawos::monitor::v1::EventFilter& filter,
                     const std::function<bool(const ::clawos::monitor::v1::Event&)>& write,
                     const std::function<bool()>& cancelled);

  absl::Status ReportLlmRequest(const std::string& vm, const std::string& request_id, bool begin);

  // "per-call" or "generic" (BpfMonitor::ExitHooks).
  std::string ExitHooks() const;

  // Waits until events made so far reached the sinks (tests).
  void Flush();

 private:
  explicit Monitor(MonitorOptions options) : options_(std::move(options)) {}
  struct Live {
    TargetRecord record;
    bool active = false;  // in the kernel filter
  };
  absl::Status Activate(Live& t);
  ::clawos::monitor::v1::Target ToProto(const Live& t) const;
  void ReadLoop();
  void Handle(const clawos_event& raw);

  MonitorOptions options_;
  std::unique_ptr<BpfMonitor> bpf_;
  std::unique_ptr<TargetStore> store_;
  std::unique_ptr<JsonlSink> jsonl_;
  std::unique_ptr<SiemSink> siem_;
  absl::Time start_time_;

  std::mutex mu_;                        // targets, rows, llm requests
  std::map<std::string, Live> targets_;  // by id
  std::array<const Live*, kMaxTargets> by_row_{};
  std::map<std::string, std::set<std::string>> llm_requests_;  // by vm

  // Every event, for StreamEvents; 8192 kept (about 3 MiB).
  // Ids from the clock (not 1): a reader that starts on an empty ring is
  // then past id 0 and still sees the gap when it falls behind.
  EventHub<::clawos::monitor::v1::Event> events_{8192};
  std::atomic<uint64_t> sequence_{0};
  std::atomic<uint64_t> handled_{0};
  std::atomic<uint64_t> stream_drops_{0};
  std::atomic<bool> stop_{false};
  std::thread reader_;
};

}  // namespace clawos::monitor
