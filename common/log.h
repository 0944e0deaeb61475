// Structured JSON logs (one object per line on stderr) through spdlog.
//
//   log::Info("token issued", {{"sub", sub}, {"kid", kid}});
// prints {"ts":"...","level":"info","daemon":"clawos-identity","msg":"token issued",
//         "request_id":"...","sub":"...","kid":"..."}
// The request id is the current thread's (see request_id.h), when set.
// Never pass secrets or tokens as fields.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace clawos::log {

enum class Level { kDebug, kInfo, kWarn, kError };

// Names the daemon in every line and sets the minimum level ("debug", "info",
// "warn", "error"). Unknown level names mean "info". Safe to call once at start.
void Init(std::string_view daemon, std::string_view level = "info");

void Write(Level level, std::string_view msg,
           const nlohmann::json& fields = nlohmann::json::object());
inline void Debug(std::string_view m, const nlohmann::json& f = nlohmann::json::object()) {
  Write(Level::kDebug, m, f);
}
inline void Info(std::string_view m, const nlohmann::json& f = nlohmann::json::object()) {
  Write(Level::kInfo, m, f);
}
inline void Warn(std::string_view m, const nlohmann::json& f = nlohmann::json::object()) {
  Write(Level::kWarn, m, f);
}
inline void Error(std::string_view m, const nlohmann::json& f = nlohmann::json::object()) {
  Write(Level::kError, m, f);
}

// A daemon that cannot start: logs "startup failed" and prints
// "<daemon>: <why>" on stderr. Returns the exit code (1) for main().
int StartupFailed(std::string_view why);

}  // namespace clawos::log
