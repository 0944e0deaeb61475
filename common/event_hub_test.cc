// The one hub: ids, resuming, the gap of a slow reader, waking and closing.
#include "common/event_hub.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace clawos {
namespace {

TEST(EventHubTest, IdsGrowAndResumeFromAnId) {
  EventHub<std::string> hub(3, 100);
  EXPECT_EQ(hub.Last(), 99);
  EXPECT_EQ(hub.Publish("a"), 100);
  EXPECT_EQ(hub.Publish("b"), 101);
  EXPECT_EQ(hub.Publish("c"), 102);
  auto b = hub.Since(100, absl::ZeroDuration());
  ASSERT_EQ(b.events.size(), 2u);
  EXPECT_EQ(b.events[0].first, 101);
  EXPECT_EQ(b.events[1].second, "c");
  EXPECT_FALSE(b.gap);
  EXPECT_EQ(hub.Since(0, absl::ZeroDuration(), 1).events.size(), 1u) << "at most max";
}

TEST(EventHubTest, ASlowReaderGetsAGapNotMemory) {
  EventHub<int> hub(2, 1);
  for (int i = 0; i < 5; ++i) hub.Publish(i);  // ids 1..5; 4 and 5 kept
  auto b = hub.Since(1, absl::ZeroDuration());
  EXPECT_TRUE(b.gap) << "2 and 3 were dropped";
  EXPECT_EQ(b.dropped, 2u);
  ASSERT_EQ(b.events.size(), 2u);
  EXPECT_EQ(b.events[0].first, 4);
  EXPECT_FALSE(hub.Since(3, absl::ZeroDuration()).gap) << "nothing after 3 was dropped";
}

TEST(EventHubTest, IdsStartFromTheClockByDefault) {
  EventHub<int> a;
  EXPECT_GT(a.Last(), 1'700'000'000'000'000) << "microseconds since the epoch";
}

TEST(EventHubTest, WaitersWakeForNewEventsAndClose) {
  EventHub<std::string> hub(8, 1);
  std::thread later([&] {
    absl::SleepFor(absl::Milliseconds(50));
    hub.Publish("x");
  });
  auto b = hub.Since(0, absl::Seconds(10));
  later.join();
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0].second, "x");
  std::thread closer([&] {
    absl::SleepFor(absl::Milliseconds(50));
    hub.Close();
  });
  absl::Time t0 = absl::Now();
  auto c = hub.Since(1, absl::Seconds(10));
  closer.join();
  EXPECT_TRUE(c.closed);
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
}

}  // namespace
}  // namespace clawos
