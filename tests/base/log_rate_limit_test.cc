#include "base/log_rate_limit.h"

#include <gtest/gtest.h>

namespace corral {
namespace {

TEST(LogRateLimiter, AllowsAFewLinesPerSourceASecondThenCountsTheRest) {
  LogRateLimiter l(LogRateLimiter::Limits{3, 100, 16});
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(l.admit("10.0.0.1", 5000 + i).emit);
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(l.admit("10.0.0.1", 5100).emit);
  // Another source is not held back by the first one's flood.
  EXPECT_TRUE(l.admit("10.0.0.2", 5200).emit);
  // The next second: the first line says how many were held back.
  auto v = l.admit("10.0.0.1", 6000);
  EXPECT_TRUE(v.emit);
  EXPECT_EQ(v.suppressed, 1000u);
  v = l.admit("10.0.0.1", 6001);
  EXPECT_TRUE(v.emit);
  EXPECT_EQ(v.suppressed, 0u);
}

TEST(LogRateLimiter, BoundsAllSourcesTogether) {
  LogRateLimiter l(LogRateLimiter::Limits{5, 10, 4096});
  int emitted = 0;
  for (int i = 0; i < 1000; ++i) emitted += l.admit("10.0." + std::to_string(i), 7000).emit;
  EXPECT_EQ(emitted, 10);
  EXPECT_TRUE(l.admit("10.0.999", 8000).emit);
}

TEST(LogRateLimiter, RemembersABoundedNumberOfSources) {
  LogRateLimiter l(LogRateLimiter::Limits{1, 1000000, 8});
  for (int i = 0; i < 10000; ++i) l.admit("s" + std::to_string(i), 1000 + i);
  EXPECT_LE(l.sourcesTracked(), 8u);
  // Sources beyond the table share one window: still limited, never unbounded.
  int emitted = 0;
  for (int i = 0; i < 100; ++i) emitted += l.admit("new" + std::to_string(i), 50000).emit;
  EXPECT_LE(emitted, 9);
}

}  // namespace
}  // namespace corral
