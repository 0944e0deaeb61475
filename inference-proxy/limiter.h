// Per-subject limits of the inference proxy, enforced by reservation: before
// the upstream call a request reserves one request slot and its worst-case
// tokens (prompt estimate + max_tokens) against every limit at once, under one
// lock; afterwards the reservation is settled to the real usage. So however
// many requests run concurrently, admitted reservations never add up past a
// limit. Windows slide: requests and tokens per 60 s, a token budget per
// configurable window.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace clawos::proxy {

// 0 means "no limit of this kind".
struct LimitValues {
  int64_t requests_per_minute = 60;
  int64_t tokens_per_minute = 0;
  int64_t budget_tokens = 0;
  absl::Duration budget_window = absl::Hours(24);
  // Models a token bound to another model may still ask for; "*": any.
  std::vector<std::string> allowed_models;
};

// Whether `model` is the token's own (`token_model`, "" for an unbound
// token) or one the limits allow.
bool ModelAllowed(const LimitValues& v, const std::string& token_model, const std::string& model);

// A subject's own limit: each unset field falls back to the default's.
struct LimitOverride {
  std::optional<int64_t> requests_per_minute;
  std::optional<int64_t> tokens_per_minute;
  std::optional<int64_t> budget_tokens;
  std::optional<absl::Duration> budget_window;
  std::optional<std::vector<std::string>> allowed_models;
};

struct Reservation {
  uint64_t id = 0;
  std::string subject;
  int64_t tokens = 0;  // reserved
  absl::Time time;
};

// Why a request was refused: RESOURCE_EXHAUSTED carries this in its message;
// `retry_after` is when the window will have room again.
struct Refusal {
  enum class Kind { kNone, kRequests, kTokens, kBudget };
  Kind kind = Kind::kNone;
  absl::Duration retry_after = absl::ZeroDuration();
  // The request alone is over the limit: waiting will never admit it.
  bool never_fits = false;
};

// The most one reservation (or one settled request) may count: 2^40 tokens.
// Above it a request is refused (INVALID_ARGUMENT) whatever the limits, so
// the running sums, at most this times the events in a window, never overflow.
inline constexpr int64_t kMaxReservationTokens = int64_t{1} << 40;

struct Usage {
  int64_t requests_last_minute = 0;
  int64_t tokens_last_minute = 0;
  int64_t tokens_in_budget_window = 0;
};

class Limiter {
 public:
  Limiter(const Clock& clock, LimitValues defaults) : clock_(clock), defaults_(defaults) {}

  void SetDefaults(LimitValues v);
  LimitValues defaults() const;
  void SetOverride(const std::string& subject, const LimitOverride& o);
  void ClearOverride(const std::string& subject);
  LimitValues Effective(const std::string& subject) const;

  // Usage recorded before a restart (from the ledger), so budgets hold across
  // it. Call before serving, oldest first.
  void Preload(const std::string& subject, absl::Time time, int64_t tokens);

  // Admits a request reserving `tokens`, or RESOURCE_EXHAUSTED (with `why`).
  // A request that could never fit (more tokens than the limit) is refused too
  // (`why->never_fits`); one over kMaxReservationTokens is INVALID_ARGUMENT.
  absl::StatusOr<Reservation> Reserve(const std::string& subject, int64_t tokens,
                                      Refusal* why = nullptr);
  // Replaces the reservation's tokens with what was really used (0 when the
  // upstream failed before doing any work). Unknown ids are ignored.
  void Settle(const Reservation& r, int64_t actual_tokens);

  Usage Current(const std::string& subject) const;
  // The longest budget window of the defaults and every override: how far
  // back the ledger must keep (and preload) spend for budgets to hold.
  absl::Duration LongestBudgetWindow() const;

 private:
  struct Event {
    absl::Time time;
    int64_t tokens;
  };
  // Events by id (ids grow with time), kept for the longest window in force,
  // with running sums so admitting a request costs O(log n), not a scan.
  struct State {
    std::map<uint64_t, Event> events;
    uint64_t minute_from = 0;  // first id inside the 60 s window
    int64_t minute_requests = 0;
    int64_t minute_tokens = 0;
    int64_t window_tokens = 0;  // everything still held (the budget window)
  };
  // Slides both windows to `now`.
  void Advance(State& s, absl::Time now, const LimitValues& v) const;
  LimitValues EffectiveLocked(const std::string& subject) const;

  const Clock& clock_;
  mutable std::mutex mu_;
  LimitValues defaults_;
  std::map<std::string, LimitOverride> overrides_;
  std::map<std::string, State> states_;
  uint64_t next_id_ = 1;
};

}  // namespace clawos::proxy
