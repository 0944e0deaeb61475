#include "inference-proxy/limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <limits>
#include <random>
#include <thread>
#include <vector>

namespace clawos::proxy {
namespace {

TEST(LimiterTest, RequestsPerMinuteSlide) {
  ManualClock clock;
  Limiter l(clock, {3, 0, 0, absl::Hours(24)});
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(l.Reserve("agents/a", 10).ok());
    clock.Advance(absl::Seconds(10));
  }
  Refusal why;
  auto r = l.Reserve("agents/a", 10, &why);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(why.kind, Refusal::Kind::kRequests);
  EXPECT_EQ(why.retry_after, absl::Seconds(30)) << "the first request leaves the window at 60 s";
  EXPECT_NE(r.status().message().find("requests per minute limit of 3"), std::string::npos);
  EXPECT_TRUE(l.Reserve("agents/b", 10).ok()) << "limits are per subject";
  clock.Advance(absl::Seconds(30));
  EXPECT_TRUE(l.Reserve("agents/a", 10).ok());
}

TEST(LimiterTest, TokensPerMinuteAreSettledToRealUsage) {
  ManualClock clock;
  Limiter l(clock, {0, 1000, 0, absl::Hours(24)});
  auto a = l.Reserve("s", 800);
  ASSERT_TRUE(a.ok());
  Refusal why;
  EXPECT_FALSE(l.Reserve("s", 300, &why).ok());
  EXPECT_EQ(why.kind, Refusal::Kind::kTokens);
  l.Settle(*a, 150);  // the answer was shorter than max_tokens
  EXPECT_TRUE(l.Reserve("s", 300).ok());
  EXPECT_EQ(l.Current("s").tokens_last_minute, 450);
  EXPECT_FALSE(l.Reserve("s", 1001).ok()) << "never fits";
}

TEST(LimiterTest, BudgetWindowAndPreloadAcrossRestart) {
  ManualClock clock;
  Limiter l(clock, {0, 0, 1000, absl::Hours(1)});
  l.Preload("s", clock.Now() - absl::Minutes(50), 600);  // from the ledger
  l.Preload("s", clock.Now() - absl::Minutes(5), 300);
  Refusal why;
  EXPECT_FALSE(l.Reserve("s", 200, &why).ok());
  EXPECT_EQ(why.kind, Refusal::Kind::kBudget);
  EXPECT_EQ(why.retry_after, absl::Minutes(10)) << "the 600 leaves the hour window then";
  EXPECT_TRUE(l.Reserve("s", 100).ok());
  clock.Advance(absl::Minutes(11));
  EXPECT_TRUE(l.Reserve("s", 500).ok());
  EXPECT_EQ(l.Current("s").tokens_in_budget_window, 900);
}

TEST(LimiterTest, ARequestThatCanNeverFitSaysSoAndHugeOnesCannotOverflow) {
  ManualClock clock;
  Limiter l(clock, {0, 0, 1000, absl::Hours(1)});
  ASSERT_TRUE(l.Reserve("s", 900).ok());
  Refusal why;
  EXPECT_FALSE(l.Reserve("s", 200, &why).ok());
  EXPECT_FALSE(why.never_fits) << "it fits once the window slides";
  why = {};
  auto never = l.Reserve("s", 1001, &why);
  EXPECT_TRUE(why.never_fits);
  EXPECT_NE(never.status().message().find("allows at all"), std::string::npos) << never.status();
  // Values near INT64_MAX: refused before any sum is formed, with no limits at all too.
  Limiter open(clock, {0, 0, 0, absl::Hours(1)});
  for (int64_t t : {kMaxReservationTokens + 1, std::numeric_limits<int64_t>::max()}) {
    why = {};
    auto r = open.Reserve("s", t, &why);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << t;
    EXPECT_TRUE(why.never_fits);
  }
  ASSERT_TRUE(open.Reserve("s", kMaxReservationTokens).ok());
  auto r = open.Reserve("s", 5);
  ASSERT_TRUE(r.ok());
  open.Settle(*r, std::numeric_limits<int64_t>::max());  // an upstream reporting nonsense
  EXPECT_EQ(open.Current("s").tokens_last_minute, 2 * kMaxReservationTokens);
  EXPECT_GT(open.Current("s").tokens_in_budget_window, 0) << "no wrap to negative";
}

TEST(LimiterTest, LongestBudgetWindowCoversOverrides) {
  ManualClock clock;
  Limiter l(clock, {0, 0, 1000, absl::Hours(24)});
  EXPECT_EQ(l.LongestBudgetWindow(), absl::Hours(24));
  LimitOverride o;
  o.budget_window = absl::Hours(24 * 30);
  l.SetOverride("agents/long", o);
  EXPECT_EQ(l.LongestBudgetWindow(), absl::Hours(24 * 30));
}

TEST(LimiterTest, OverridesFallBackToDefaultsFieldByField) {
  ManualClock clock;
  Limiter l(clock, {60, 5000, 0, absl::Hours(24)});
  LimitOverride o;
  o.requests_per_minute = 2;
  l.SetOverride("agents/slow", o);
  EXPECT_EQ(l.Effective("agents/slow").requests_per_minute, 2);
  EXPECT_EQ(l.Effective("agents/slow").tokens_per_minute, 5000);
  EXPECT_TRUE(l.Reserve("agents/slow", 1).ok());
  EXPECT_TRUE(l.Reserve("agents/slow", 1).ok());
  EXPECT_FALSE(l.Reserve("agents/slow", 1).ok());
  l.ClearOverride("agents/slow");
  EXPECT_TRUE(l.Reserve("agents/slow", 1).ok());
}

// 200 requests reserving at the same instant against a budget that holds 50
// of them: exactly 50 are admitted.
TEST(LimiterTest, ConcurrentReservationsAdmitExactlyWhatFits) {
  Limiter l(RealClock::Get(), {0, 0, 5000, absl::Hours(24)});
  std::latch go(200);
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 200; ++i) {
    threads.emplace_back([&] {
      go.arrive_and_wait();
      if (l.Reserve("agents/busy", 100).ok()) ++admitted;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 50);
  EXPECT_EQ(l.Current("agents/busy").tokens_in_budget_window, 5000);
}

// 200 concurrent requests that settle as they finish (to at most what they
// reserved): settled room is reused, and the real spend never passes the budget.
TEST(LimiterTest, ConcurrentRequestsNeverOverspend) {
  Limiter l(RealClock::Get(), {0, 0, 5000, absl::Hours(24)});
  std::latch go(200);
  std::atomic<int> admitted{0};
  std::atomic<int64_t> spent{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 200; ++i) {
    threads.emplace_back([&, i] {
      std::mt19937 rng(i);
      go.arrive_and_wait();
      auto r = l.Reserve("agents/busy", 100);
      if (!r.ok()) return;
      ++admitted;
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 2000));
      int64_t used = 1 + rng() % 100;  // at most what was reserved
      spent += used;
      l.Settle(*r, used);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_GE(admitted.load(), 50);
  EXPECT_LE(spent.load(), 5000);
  EXPECT_EQ(l.Current("agents/busy").tokens_in_budget_window, spent.load());
}

}  // namespace
}  // namespace clawos::proxy
