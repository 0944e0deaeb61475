#include "inference-proxy/limiter.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace clawos::proxy {
namespace {

const absl::Duration kMinute = absl::Minutes(1);

}  // namespace

void Limiter::SetDefaults(LimitValues v) {
  std::lock_guard lock(mu_);
  defaults_ = v;
}

LimitValues Limiter::defaults() const {
  std::lock_guard lock(mu_);
  return defaults_;
}

void Limiter::SetOverride(const std::string& subject, const LimitOverride& o) {
  std::lock_guard lock(mu_);
  overrides_[subject] = o;
}

void Limiter::ClearOverride(const std::string& subject) {
  std::lock_guard lock(mu_);
  overrides_.erase(subject);
}

LimitValues Limiter::EffectiveLocked(const std::string& subject) const {
  LimitValues v = defaults_;
  auto it = overrides_.find(subject);
  if (it == overrides_.end()) return v;
  const LimitOverride& o = it->second;
  if (o.requests_per_minute) v.requests_per_minute = *o.requests_per_minute;
  if (o.tokens_per_minute) v.tokens_per_minute = *o.tokens_per_minute;
  if (o.budget_tokens) v.budget_tokens = *o.budget_tokens;
  if (o.budget_window) v.budget_window = *o.budget_window;
  if (o.allowed_models) v.allowed_models = *o.allowed_models;
  return v;
}

bool ModelAllowed(const LimitValues& v, const std::string& token_model, const std::string& model) {
  if (token_model.empty() || model == token_model) return true;
  for (const std::string& m : v.allowed_models) {
    if (m == "*" || m == model) return true;
  }
  return false;
}

LimitValues Limiter::Effective(const std::string& subject) const {
  std::lock_guard lock(mu_);
  return EffectiveLocked(subject);
}

void Limiter::Advance(State& s, absl::Time now, const LimitValues& v) const {
  // The minute window's start moves forward over events that left it.
  for (auto it = s.events.lower_bound(s.minute_from);
       it != s.events.end() && it->second.time <= now - kMinute; ++it) {
    s.minute_requests -= 1;
    s.minute_tokens -= it->second.tokens;
    s.minute_from = it->first + 1;
  }
  // Events older than every window in force are dropped.
  absl::Duration keep = v.budget_tokens > 0 ? std::max(kMinute, v.budget_window) : kMinute;
  while (!s.events.empty() && s.events.begin()->second.time <= now - keep) {
    auto first = s.events.begin();
    if (first->first >= s.minute_from) {  // only when keep == a minute, at the same edge
      s.minute_requests -= 1;
      s.minute_tokens -= first->second.tokens;
      s.minute_from = first->first + 1;
    }
    s.window_tokens -= first->second.tokens;
    s.events.erase(first);
  }
}

void Limiter::Preload(const std::string& subject, absl::Time time, int64_t tokens) {
  tokens = std::clamp<int64_t>(tokens, 0, kMaxReservationTokens);
  std::lock_guard lock(mu_);
  State& s = states_[subject];
  uint64_t id = next_id_++;
  s.events[id] = {time, tokens};
  s.window_tokens += tokens;
  s.minute_requests += 1;  // Advance moves it out if older than a minute
  s.minute_tokens += tokens;
  if (s.minute_from == 0) s.minute_from = id;
}

absl::StatusOr<Reservation> Limiter::Reserve(const std::string& subject, int64_t tokens,
                                             Refusal* why) {
  if (tokens < 0) return absl::InvalidArgumentError("negative token reservation");
  if (tokens > kMaxReservationTokens) {
    if (why) *why = {Refusal::Kind::kTokens, absl::ZeroDuration(), true};
    return absl::InvalidArgumentError(
        absl::StrCat("the request may use ", tokens,
                     " tokens, more than the proxy accounts for in one request (",
                     kMaxReservationTokens, "); lower its output cap"));
  }
  std::lock_guard lock(mu_);
  const absl::Time now = clock_.Now();
  const LimitValues v = EffectiveLocked(subject);
  State& s = states_[subject];
  Advance(s, now, v);
  // Tokens in the budget window: what is held, minus what is older than it
  // (held only because the minute window is longer than a short budget window).
  int64_t budget_used = s.window_tokens;
  for (auto it = s.events.begin(); it != s.events.end() && it->second.time <= now - v.budget_window;
       ++it) {
    budget_used -= it->second.tokens;
  }
  // When enough of a window will have slid out for `need` more to fit.
  auto retry = [&](absl::Duration window, bool count_requests, int64_t used, int64_t limit,
                   int64_t need) {
    int64_t over = used + need - limit;
    for (const auto& [id, e] : s.events) {
      if (e.time <= now - window) continue;
      over -= count_requests ? 1 : e.tokens;
      if (over <= 0) return std::max(absl::Seconds(1), e.time + window - now);
    }
    return window;
  };
  Refusal r;
  if (v.requests_per_minute > 0 && s.minute_requests + 1 > v.requests_per_minute) {
    r = {Refusal::Kind::kRequests,
         retry(kMinute, true, s.minute_requests, v.requests_per_minute, 1)};
  } else if (v.tokens_per_minute > 0 && s.minute_tokens + tokens > v.tokens_per_minute) {
    bool never = tokens > v.tokens_per_minute;
    r = {Refusal::Kind::kTokens,
         never ? kMinute : retry(kMinute, false, s.minute_tokens, v.tokens_per_minute, tokens),
         never};
  } else if (v.budget_tokens > 0 && budget_used + tokens > v.budget_tokens) {
    bool never = tokens > v.budget_tokens;
    r = {Refusal::Kind::kBudget,
         never ? v.budget_window
               : retry(v.budget_window, false, budget_used, v.budget_tokens, tokens),
         never};
  }
  if (r.kind != Refusal::Kind::kNone) {
    if (why) *why = r;
    const char* what = r.kind == Refusal::Kind::kRequests ? "requests per minute"
                       : r.kind == Refusal::Kind::kTokens ? "tokens per minute"
                                                          : "token budget";
    int64_t limit = r.kind == Refusal::Kind::kRequests ? v.requests_per_minute
                    : r.kind == Refusal::Kind::kTokens ? v.tokens_per_minute
                                                       : v.budget_tokens;
    if (r.never_fits) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "this request may use up to ", tokens,
          " tokens (prompt estimate + output cap x choices), ", "more than ", subject, "'s ", what,
          " limit of ", limit, " allows at all; lower max_tokens (or n)"));
    }
    return absl::ResourceExhaustedError(
        absl::StrCat(subject, " is over its ", what, " limit of ", limit, "; retry in ",
                     absl::ToInt64Seconds(absl::Ceil(r.retry_after, absl::Seconds(1))), " s"));
  }
  Reservation res{next_id_++, subject, tokens, now};
  s.events[res.id] = {now, tokens};
  if (s.minute_from == 0) s.minute_from = res.id;
  s.minute_requests += 1;
  s.minute_tokens += tokens;
  s.window_tokens += tokens;
  return res;
}

void Limiter::Settle(const Reservation& r, int64_t actual_tokens) {
  std::lock_guard lock(mu_);
  auto st = states_.find(r.subject);
  if (st == states_.end()) return;
  State& s = st->second;
  auto it = s.events.find(r.id);
  if (it == s.events.end()) return;  // already out of every window
  int64_t delta = std::clamp<int64_t>(actual_tokens, 0, kMaxReservationTokens) - it->second.tokens;
  it->second.tokens += delta;
  s.window_tokens += delta;
  if (r.id >= s.minute_from) s.minute_tokens += delta;
}

Usage Limiter::Current(const std::string& subject) const {
  std::lock_guard lock(mu_);
  Usage u;
  auto it = states_.find(subject);
  if (it == states_.end()) return u;
  const absl::Time now = clock_.Now();
  const LimitValues v = EffectiveLocked(subject);
  for (const auto& [id, e] : it->second.events) {
    if (e.time > now - kMinute) {
      ++u.requests_last_minute;
      u.tokens_last_minute += e.tokens;
    }
    if (e.time > now - v.budget_window) u.tokens_in_budget_window += e.tokens;
  }
  return u;
}

absl::Duration Limiter::LongestBudgetWindow() const {
  std::lock_guard lock(mu_);
  absl::Duration longest = defaults_.budget_window;
  for (const auto& [subject, o] : overrides_) {
    if (o.budget_window) longest = std::max(longest, *o.budget_window);
  }
  return longest;
}

}  // namespace clawos::proxy
