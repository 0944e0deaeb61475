#include "cli/monitor_commands.h"

#include <algorithm>
#include <iostream>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "clawos/monitor/v1/monitor.grpc.pb.h"
#include "cli/api_client.h"
#include "common/grpc_client.h"
#include "common/grpc_status.h"
#include "common/grpc_util.h"
#include "common/proto_json.h"

namespace clawos::cli {
namespace {

namespace mpb = ::clawos::monitor::v1;

std::string Method(const char* name) {
  return absl::StrCat("clawos.monitor.v1.MonitorService.", name);
}

// The monitor's commands speak to it directly (its trusted transport).
template <typename Req, typename Resp>
absl::StatusOr<Resp> Call(const Context& ctx, const char* method, const Req& req) {
  auto api = MakeDirectApiClient(ctx);
  if (!api.ok()) return api.status();
  return (*api)->Call<Resp>(Method(method), req);
}

std::string Name(const std::string& t) { return t.rfind("targets/", 0) == 0 ? t : "targets/" + t; }

const char* Severity(mpb::Severity s) {
  switch (s) {
    case mpb::SEVERITY_LOW:
      return "LOW";
    case mpb::SEVERITY_MEDIUM:
      return "MEDIUM";
    case mpb::SEVERITY_HIGH:
      return "HIGH";
    case mpb::SEVERITY_CRITICAL:
      return "CRITICAL";
    default:
      return "INFO";
  }
}

void PrintEvent(const mpb::Event& e) {
  std::string what;
  switch (e.kind()) {
    case mpb::Event::SYSCALL:
      what = absl::StrFormat(
          "%s(%s) = %s", e.syscall().name(), e.syscall().args_summary(),
          e.syscall().at_entry() ? std::string("?") : std::to_string(e.syscall().return_value()));
      break;
    case mpb::Event::PROCESS_FORK:
      what = absl::StrFormat("fork → %d", e.child_pid());
      break;
    case mpb::Event::PROCESS_EXEC:
      what = absl::StrFormat("exec %s [%s]", e.filename(), absl::StrJoin(e.argv(), " "));
      break;
    case mpb::Event::PROCESS_EXIT:
      what = absl::StrFormat("exit %d", e.exit_code());
      break;
    default:
      what = "?";
  }
  std::cout << absl::StrFormat(
      "%s %-8s %-9s %-12s %6d %-15s %s%s\n",
      absl::FormatTime("%H:%M:%E3S", FromProtoTime(e.time()), absl::LocalTimeZone()),
      Severity(e.severity()), e.action(), e.vm().substr(e.vm().find('/') + 1), e.pid(), e.comm(),
      e.rule().empty() ? "" : "[" + e.rule() + "] ", what);
  std::cout.flush();
}

}  // namespace

void AddMonitorCommands(CLI::App& app, Context& ctx, int& rc) {
  auto* mon = app.add_subcommand("monitor", "The eBPF system call monitor")->require_subcommand(1);

  auto* targets = mon->add_subcommand("targets", "The cgroups watched");
  targets->callback([&ctx, &rc] {
    mpb::ListTargetsRequest req;
    req.set_page_size(1000);
    auto r = Call<mpb::ListTargetsRequest, mpb::ListTargetsResponse>(ctx, "ListTargets", req);
    if (!r.ok()) {
      rc = ReportError("monitor targets", r.status());
      return;
    }
    if (ctx.json()) {
      std::cout << ToJson(*r) << "\n";
      return;
    }
    std::cout << absl::StrFormat("%-24s %-20s %-12s %-11s %s\n", "TARGET", "VM", "CGROUP", "STATE",
                                 "AGENT");
    for (const auto& t : r->targets()) {
      std::cout << absl::StrFormat("%-24s %-20s %-12d %-11s %s\n", t.name().substr(8), t.vm(),
                                   t.cgroup_id(), mpb::Target::State_Name(t.state()),
                                   t.agent_subject());
    }
  });

  auto* target = mon->add_subcommand("target", "Add or delete a target")->require_subcommand(1);
  struct AddFlags {
    std::string id, vm, cgroup, agent;
    uint64_t cgroup_id = 0;
  };
  auto af = std::make_shared<AddFlags>();
  auto* add = target->add_subcommand("add", "Watch a cgroup (the launcher does this per VM)");
  add->add_option("id", af->id, "Target id")->required();
  add->add_option("--vm", af->vm, "vms/<id> the cgroup belongs to")->required();
  add->add_option("--cgroup", af->cgroup, "cgroup v2 directory");
  add->add_option("--cgroup-id", af->cgroup_id, "cgroup v2 id (the directory's inode)");
  add->add_option("--agent", af->agent, "The agent's subject, agents/<id>");
  add->callback([&ctx, &rc, af] {
    mpb::CreateTargetRequest req;
    req.set_target_id(af->id);
    req.set_vm(af->vm);
    req.set_cgroup_path(af->cgroup);
    req.set_cgroup_id(af->cgroup_id);
    req.set_agent_subject(af->agent);
    auto r = Call<mpb::CreateTargetRequest, mpb::Target>(ctx, "CreateTarget", req);
    if (!r.ok()) {
      rc = ReportError("monitor target add", r.status());
      return;
    }
    std::cout << (ctx.json() ? ToJson(*r)
                             : r->name() + " watches cgroup " + std::to_string(r->cgroup_id()))
              << "\n";
  });
  auto del_id = std::make_shared<std::string>();
  auto* del = target->add_subcommand("delete", "Stop watching a target");
  del->add_option("id", *del_id, "Target id")->required();
  del->callback([&ctx, &rc, del_id] {
    mpb::DeleteTargetRequest req;
    req.set_name(Name(*del_id));
    auto r = Call<mpb::DeleteTargetRequest, google::protobuf::Empty>(ctx, "DeleteTarget", req);
    if (!r.ok()) rc = ReportError("monitor target delete", r.status());
  });

  struct TailFlags {
    std::string target, min_severity;
    std::vector<std::string> vms, syscalls;
    int count = 0;
  };
  auto tf = std::make_shared<TailFlags>();
  auto* tail = mon->add_subcommand("tail", "Follow events as they happen (Ctrl-C ends)");
  tail->add_option("--target", tf->target, "Only this target's VM");
  tail->add_option("--vm", tf->vms, "Only these VMs (vms/<id>)");
  tail->add_option("--syscall", tf->syscalls, "Only these system calls");
  tail->add_option("--min-severity", tf->min_severity, "info, low, medium, high or critical")
      ->check(CLI::IsMember({"info", "low", "medium", "high", "critical"}));
  tail->add_option("-n,--count", tf->count, "Stop after this many events");
  tail->callback([&ctx, &rc, tf] {
    mpb::StreamEventsRequest req;
    auto* f = req.mutable_filter();
    for (const auto& v : tf->vms) f->add_vms(v.rfind("vms/", 0) == 0 ? v : "vms/" + v);
    for (const auto& s : tf->syscalls) f->add_syscalls(s);
    if (!tf->min_severity.empty()) {
      const std::vector<std::string> names = {"info", "low", "medium", "high", "critical"};
      auto it = std::find(names.begin(), names.end(), tf->min_severity);
      f->set_min_severity(static_cast<mpb::Severity>(1 + (it - names.begin())));
    }
    if (!tf->target.empty()) {
      mpb::GetTargetRequest g;
      g.set_name(Name(tf->target));
      auto t = Call<mpb::GetTargetRequest, mpb::Target>(ctx, "GetTarget", g);
      if (!t.ok()) {
        rc = ReportError("monitor tail", t.status());
        return;
      }
      f->add_vms(t->vm());
    }
    auto api = MakeDirectApiClient(ctx);
    if (!api.ok()) {
      rc = ReportError("monitor tail", api.status());
      return;
    }
    Canceller enough;  // -n N ends the stream after N events
    int seen = 0;
    absl::Status s = (*api)->Each<mpb::Event>(
        Method("StreamEvents"), req,
        [&](const mpb::Event& e) {
          if (ctx.json()) {  // one event per line (JSON Lines)
            std::cout << clawos::ToJson(e) << std::endl;
          } else {
            PrintEvent(e);
          }
          if (tf->count > 0 && ++seen >= tf->count) enough.Cancel();
          return absl::OkStatus();
        },
        &enough);
    if (!s.ok() && !absl::IsCancelled(s)) rc = ReportError("monitor tail", s);
  });

  struct StatsFlags {
    std::vector<std::string> targets;
    int top = 10;
  };
  auto sf = std::make_shared<StatsFlags>();
  auto* stats = mon->add_subcommand("stats", "System call counts and event counters");
  stats->add_option("--target", sf->targets, "Only these targets");
  stats->add_option("--top", sf->top, "How many system calls to list per target")
      ->capture_default_str();
  stats->callback([&ctx, &rc, sf] {
    mpb::GetStatsRequest req;
    for (const auto& t : sf->targets) req.add_targets(Name(t));
    auto r = Call<mpb::GetStatsRequest, mpb::Stats>(ctx, "GetStats", req);
    if (!r.ok()) {
      rc = ReportError("monitor stats", r.status());
      return;
    }
    if (ctx.json()) {
      std::cout << ToJson(*r) << "\n";
      return;
    }
    absl::Duration up = absl::Now() - FromProtoTime(r->start_time());
    std::cout << absl::StrFormat(
        "events %d since %s (%.1f/s), ring buffer lost %d, streams lost %d, exit hooks %s\n",
        r->events_total(),
        absl::FormatTime("%Y-%m-%d %H:%M:%S", FromProtoTime(r->start_time()),
                         absl::LocalTimeZone()),
        r->events_total() / std::max(1.0, absl::ToDoubleSeconds(up)), r->ring_buffer_drops(),
        r->stream_drops(), r->exit_hooks());
    for (const auto& t : r->targets()) {
      std::cout << absl::StrFormat(
          "%s (%s): %d system calls, %d events, %d lost, %d forks, %d execs\n", t.target(), t.vm(),
          t.syscalls_total(), t.events_emitted(), t.events_dropped(), t.forks(), t.execs());
      std::vector<std::pair<uint64_t, std::string>> top;
      for (const auto& [name, n] : t.syscall_counts()) top.emplace_back(n, name);
      std::sort(top.rbegin(), top.rend());
      for (int i = 0; i < static_cast<int>(top.size()) && i < sf->top; ++i) {
        std::cout << absl::StrFormat("  %-24s %d\n", top[i].second, top[i].first);
      }
    }
  });

  auto* sinks = mon->add_subcommand("sinks", "Where events go, and how that goes");
  sinks->callback([&ctx, &rc] {
    auto r = Call<mpb::ListSinksRequest, mpb::ListSinksResponse>(ctx, "ListSinks",
                                                                 mpb::ListSinksRequest{});
    if (!r.ok()) {
      rc = ReportError("monitor sinks", r.status());
      return;
    }
    if (ctx.json()) {
      std::cout << ToJson(*r) << "\n";
      return;
    }
    for (const auto& s : r->sinks()) {
      std::cout << absl::StrFormat("%-12s %-9s %-24s written %d, dropped %d, queued %d%s\n",
                                   s.name(), mpb::Sink::State_Name(s.state()), s.destination(),
                                   s.events_written(), s.events_dropped(), s.queue_depth(),
                                   s.last_error().empty() ? "" : "; last error: " + s.last_error());
    }
  });
}

}  // namespace clawos::cli
