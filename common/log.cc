#include "common/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <memory>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/request_id.h"

namespace clawos::log {
namespace {

struct State {
  std::shared_ptr<spdlog::logger> logger;
  std::string daemon = "clawos";
};

State& GetState() {
  static State* s = [] {
    auto* st = new State;
    st->logger = spdlog::stderr_logger_mt("clawos-json");
    st->logger->set_pattern("%v");
    st->logger->flush_on(spdlog::level::warn);
    return st;
  }();
  return *s;
}

spdlog::level::level_enum ToSpd(Level l) {
  switch (l) {
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
      return spdlog::level::info;
    case Level::kWarn:
      return spdlog::level::warn;
    case Level::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

const char* Name(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

}  // namespace

void Init(std::string_view daemon, std::string_view level) {
  State& s = GetState();
  s.daemon = std::string(daemon);
  Level l = Level::kInfo;
  if (level == "debug") l = Level::kDebug;
  if (level == "warn") l = Level::kWarn;
  if (level == "error") l = Level::kError;
  s.logger->set_level(ToSpd(l));
  s.logger->flush_on(spdlog::level::info);
}

void Write(Level level, std::string_view msg, const nlohmann::json& fields) {
  State& s = GetState();
  if (!s.logger->should_log(ToSpd(level))) return;
  nlohmann::json line = {
      {"ts", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone())},
      {"level", Name(level)},
      {"daemon", s.daemon},
      {"msg", msg},
  };
  const std::string& rid = CurrentRequestId();
  if (!rid.empty()) line["request_id"] = rid;
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) line[it.key()] = it.value();
  }
  s.logger->log(ToSpd(level), "{}",
                line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

int StartupFailed(std::string_view why) {
  Error("startup failed", {{"error", std::string(why)}});
  std::cerr << GetState().daemon << ": " << why << "\n";
  return 1;
}

}  // namespace clawos::log
