#include "common/duration.h"

#include <gtest/gtest.h>

namespace clawos {
namespace {

TEST(DurationTest, ParsesOperatorForms) {
  EXPECT_EQ(clawos::ParseDuration("90s").value(), absl::Seconds(90));
  EXPECT_EQ(clawos::ParseDuration("10m").value(), absl::Minutes(10));
  EXPECT_EQ(clawos::ParseDuration("1h30m").value(), absl::Minutes(90));
  EXPECT_EQ(clawos::ParseDuration("7d").value(), absl::Hours(168));
  EXPECT_EQ(clawos::ParseDuration("1d12h").value(), absl::Hours(36));
  EXPECT_EQ(clawos::ParseDuration("250ms").value(), absl::Milliseconds(250));
}

TEST(DurationTest, RejectsGarbage) {
  for (const char* bad : {"", "10", "ten minutes", "-5m", "inf", "5x", "d", "-1d"}) {
    EXPECT_FALSE(clawos::ParseDuration(bad).ok()) << bad;
  }
}

TEST(DurationTest, FormatRoundTrips) {
  for (auto d : {absl::Minutes(10), absl::Hours(36), absl::Seconds(1)}) {
    EXPECT_EQ(clawos::ParseDuration(clawos::FormatDuration(d)).value(), d);
  }
}

}  // namespace
}  // namespace clawos
